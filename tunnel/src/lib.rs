//! The RESP tunnel served natively (docs/architecture.md): a call's body is a RESP pipeline for
//! the Redis node its `:authority` names, sent over a pooled connection, TLS when the call asks.
//! The harness serves its tunnel upstreams with it, and the Envoy dynamic module reaches Redis
//! with it from a thread of its own.
//! - `pool`: the connections and one exchange;
//! - `tls`: rustls client configs, as a call's `x-redis-tls` asks;
//! - `ask`: what a call's headers ask of the tunnel, and Envoy's answer when it fails.

pub mod ask;
pub mod pool;
pub mod tls;

pub use ask::TunnelAsk;
pub use pool::{TunnelError, TunnelPool};
pub use tls::{Tls, TlsWanted};
