//! redis-session: Kong's session plugin as a proxy-wasm filter, with `storage: redis` (the
//! integration guide's use case 3): a session made on one gateway node is honoured on every
//! other node sharing Redis. The cookie carries a random session id signed with HMAC-SHA256;
//! the session is a Redis hash with the guide's fields (`id`, `credential`, `auth_time`, `exp`).
//! `storage: cookie` (Kong's default) seals the whole session in the cookie instead.

pub mod config;
pub mod cookie;
pub mod sealed;
pub mod store;

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
