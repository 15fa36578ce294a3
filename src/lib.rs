//! Shared library of the Redis-backed proxy-wasm filters: Kong's Redis config, RESP, the
//! transport that reaches Redis through the host, and the guest side of the proxy-wasm ABI.
//!
//! Everything here that runs inside the Wasm VM returns errors as values: a panic would kill the
//! VM and fail every later request (the workspace lints deny `unwrap`, `expect`, `panic` and
//! indexing; the panic hook `proxy::install` sets logs through the host if one happens anyway).

pub mod base64;
pub mod config;
pub mod counters;
pub mod decimal;
pub mod failure_log;
pub mod fast_hash;
pub mod filter_host;
pub mod hmac;
pub mod identity;
pub mod job;
pub mod jwt;
pub mod proxy;
pub mod query;
pub mod resp;
pub mod script;
pub mod shared_data;
pub mod shared_table;
pub mod slot;
pub mod target;
pub mod topology;
pub mod transport;

pub use config::{ConfigError, Fields, RedisConfig};
pub use job::{Job, Outcome, Step};
pub use resp::{Command, RedisError, Reply};
pub use script::Script;
pub use shared_data::{SetError, SharedData};
