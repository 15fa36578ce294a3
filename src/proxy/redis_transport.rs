//! What the guest's Redis client needs of its build's way to Redis (the RESP tunnel, Higress'
//! redis calls): the `Transport` each of `tunnel_transport` and `higress_transport` implements.
//! Below `redis` and the transports, so neither imports the other.

use crate::config::RedisConfig;
use crate::transport::{Affinity, Dispatcher, Framing};

/// What the client needs of its build's way to Redis, beyond `Dispatcher`.
pub trait Transport: Dispatcher + Sized {
    /// The framing of calls to data nodes; an error for a config this transport cannot serve.
    fn framing(config: &RedisConfig) -> Result<Framing, String>;
    /// Called once the client exists (Higress opens its connection pool).
    fn init(config: &RedisConfig) -> Result<(), String>;
    fn new(root_id: u32, affinity: Affinity) -> Self;
}
