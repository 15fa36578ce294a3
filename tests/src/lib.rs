//! Helpers shared by the end-to-end tests: real servers on free loopback ports (redis-server,
//! the harness and its echo upstream), stopped when the test ends.

pub mod cluster;
pub mod envoy;
pub mod gateway;
pub mod harness;
pub mod http;
pub mod keep_alive;
pub mod kong;
pub mod load;
pub mod procfs;
pub mod redis_server;
pub mod sentinel;
pub mod tls;

pub use harness::{Setup, TestGateway};
pub use redis_server::RedisServer;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
