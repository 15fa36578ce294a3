//! redis-jwt: Kong's jwt plugin as a proxy-wasm filter. It finds the token where Kong looks
//! (query, cookies, headers), checks it as Kong does (the credential named by `key_claim_name`,
//! its algorithm, the signature, `exp` / `nbf`, `maximum_expiration`), answers Kong's 401s, sets
//! Kong's upstream headers, and hands the consumer to the filters after it
//! (`redis_filter_core::identity`). Credentials are Kong's consumers with their `jwt_secrets`,
//! given in the config; HS* tokens are checked with the shared HMAC, the others with the
//! credential's public key (`public_key`).

pub mod config;
pub mod public_key;
pub mod store;
mod verified;
/// Kong's token lookup and parser (shared with redis-jwt-blacklist).
pub use redis_filter_core::jwt as token;

mod request;
mod root;

/// This filter as a feature of `redis-chain`.
pub use request::Filter;

// The module's entry point; off where another module (redis-chain) links this filter in.
#[cfg(feature = "module")]
redis_filter_core::filter_main!(|id| Box::new(redis_filter_core::proxy::FeatureRoot::<
    request::Filter,
>::new(id)));
