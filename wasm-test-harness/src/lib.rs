//! wasm-test-harness: a native proxy-wasm host (ABI 0.2.1 on wasmtime, through the
//! `proxy-wasm-host` crate) that serves Kong's declarative kong.yml, runs filter chains with
//! real concurrency, reaches real upstreams, and serves RESP tunnels to real Redis natively.

pub mod call_counts;
pub mod callouts;
pub mod cli;
pub mod dispatch;
pub mod echo;
pub mod gateway;
pub mod headers;
pub mod http_client;
pub mod kong_rules;
pub mod local_length;
pub mod profile;
pub mod router;
pub mod shared;
pub mod state;
pub mod streams;
pub mod vm;
pub mod worker;

pub use echo::EchoServer;
pub use gateway::{Gateway, GatewayOptions};
pub use profile::Profile;
