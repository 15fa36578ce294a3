//! What the guest's Redis client needs of the host beneath it, whichever way its build reaches
//! Redis (the RESP tunnel, Higress' redis calls): the `Transport` each implements, and the host's
//! shared data. Below `redis` and the transports, so neither imports the other.

use super::host;
use crate::config::RedisConfig;
use crate::shared_data::{SetError, SharedData};
use crate::transport::{Affinity, Dispatcher, Framing};

/// What the client needs of its build's way to Redis, beyond `Dispatcher`.
pub trait Transport: Dispatcher + Sized {
    /// The framing of calls to data nodes; an error for a config this transport cannot serve.
    fn framing(config: &RedisConfig) -> Result<Framing, String>;
    /// Called once the client exists (Higress opens its connection pool).
    fn init(config: &RedisConfig) -> Result<(), String>;
    fn new(root_id: u32, affinity: Affinity) -> Self;
}

/// The host's shared data (`proxy_get_shared_data` / `proxy_set_shared_data`).
pub struct HostSharedData;

impl SharedData for HostSharedData {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match host::shared_data(key) {
            Ok((Some(value), cas)) => Some((value, cas)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        match host::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(host::Status::CAS_MISMATCH) => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Refused),
        }
    }
}
