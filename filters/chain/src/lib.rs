//! redis-chain: any sequence of the five filters run as one filter. Its config is the shape of a
//! Kong `filter_chains` entry (`{"filters": [{"name": ..., "config": {...}}, ...]}`), each inner
//! config read by that filter's own parser. The filters run as they would one after another in
//! the host: request phases in order, a local response ends the rest, response phases in the
//! host's order (Kong's engine: the chain's; Envoy: reversed). What the chain adds: one entry
//! into the VM per callback for all of them, the consumer handed on in memory, and the Redis
//! work of filters that do not depend on one another leaving in one pipeline (one round trip).

mod chain;
pub mod config;
mod host;
pub mod known;
mod request;
mod root;
mod tags;

#[cfg(test)]
mod request_tests;

pub use chain::Chain;

/// The filter's name, in its log lines and its 500s.
pub const NAME: &str = "redis-chain";

redis_filter_core::filter_main!(root);

/// The chain's root context (its module's, and the Envoy dynamic module's `redis-chain`).
pub fn root(id: u32) -> Box<dyn redis_filter_core::proxy::RootContext> {
    Box::new(redis_filter_core::proxy::FeatureRoot::<Chain>::new(id))
}
