//! redis-jwt-blacklist: revoked JWTs refused by every gateway node sharing Redis (the
//! integration guide's Scenario 2). A token is known by its `jti` claim, else by the SHA-256 of
//! the whole token; a request whose token is revoked gets 401 `{"message":"Token revoked"}`.
//! A revocation endpoint lets a client revoke the token it presents; an operator path guarded
//! by a secret revokes by `jti`.

pub mod config;
pub mod revoked;

mod request;
mod root;

/// This filter as a feature of `redis-chain`.
pub use request::Filter;

// The module's entry point; off where another module (redis-chain) links this filter in.
#[cfg(feature = "module")]
redis_filter_core::filter_main!(|id| Box::new(redis_filter_core::proxy::FeatureRoot::<
    request::Filter,
>::new(id)));
