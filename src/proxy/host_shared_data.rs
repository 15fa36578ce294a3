//! The host's shared data, the key-value store every VM of a worker (Envoy: of the process) sees,
//! behind the `SharedData` trait the filters' logic is written against. A native build that
//! installed a store of its own (`shared_data::install_native`) is answered by it directly.

use super::abi;
use crate::shared_data::{SetError, SharedData};

/// The host's shared data (`proxy_get_shared_data` / `proxy_set_shared_data`).
pub struct HostSharedData;

impl SharedData for HostSharedData {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        if let Some(store) = crate::shared_data::native() {
            return store.get(key);
        }
        match abi::shared_data(key) {
            Ok((Some(value), cas)) => Some((value, cas)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        if let Some(store) = crate::shared_data::native() {
            return store.set(key, value, cas);
        }
        match abi::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(abi::Status::CAS_MISMATCH) => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Refused),
        }
    }
}
