//! redis-rate-limiting: Kong's rate-limiting plugin as a proxy-wasm filter. Policies `local`
//! (shared data across workers) and `redis` (one EVALSHA per request for every period, or local
//! counting synced every `sync_rate` seconds), Kong's headers, status, body and Redis keys.

pub mod config;
pub mod decision;
pub mod identifier;
pub mod keys;
pub mod periods;
pub mod script;
pub mod slots;
pub mod sync;

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
