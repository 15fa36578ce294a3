//! Shared data through the host, for the counters.

use crate::counters::SharedData;
use redis_filter_core::proxy::host::{self, Status};

pub struct HostData;

impl SharedData for HostData {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        host::shared_data(key).unwrap_or((None, 0))
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), bool> {
        match host::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(Status::CAS_MISMATCH) => Err(true),
            Err(_) => Err(false),
        }
    }
}
