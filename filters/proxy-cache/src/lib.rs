//! redis-proxy-cache: Kong's proxy-cache plugin with proxy-cache-advanced's `redis` strategy, as
//! a proxy-wasm filter. Responses are cached in Redis (one key per entry; a hit is one GET, a
//! write one SET) or in the host's shared data (`memory`), under Kong's cache key, with Kong's
//! `X-Cache-Status`, `X-Cache-Key` and `Age` headers and its reading of `Cache-Control`.

pub mod cache_control;
pub mod cache_key;
pub mod config;
pub mod entry;
pub mod memory;
pub mod stale;
pub mod store;
pub mod windows;

mod filter;
mod request;
mod root;

/// This filter as a feature of `redis-chain`.
pub use filter::Filter;

// The module's entry point; off where another module (redis-chain) links this filter in.
#[cfg(feature = "module")]
redis_filter_core::filter_main!(|id| Box::new(redis_filter_core::proxy::FeatureRoot::<
    filter::Filter,
>::new(id)));
