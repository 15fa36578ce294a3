//! The host's shared data, one trait for every user of it: the topology's cached layouts, the
//! filters' counters. Compare-and-swap on write, as Envoy and Kong's engine do it. Implemented on
//! the guest layer (`proxy::HostSharedData`) and, in memory, by `shared_data::Memory` for tests.

/// Why a write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    /// Another writer got there first: read again and retry.
    CasMismatch,
    /// The host refused (no shared memory configured, full, ...).
    Refused,
}

pub trait SharedData {
    /// The value and its CAS token, `None` when the key is absent.
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Sets the value if its CAS token is still `cas` (0: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError>;
}

/// The store a native build installs as its shared data (the Envoy module's process memory):
/// `proxy::HostSharedData` reads and writes it directly, in place of the host functions.
#[cfg(not(target_arch = "wasm32"))]
static NATIVE: std::sync::OnceLock<&'static (dyn SharedData + Sync)> = std::sync::OnceLock::new();

/// Installs a native build's store (once; later calls change nothing).
#[cfg(not(target_arch = "wasm32"))]
pub fn install_native(store: &'static (dyn SharedData + Sync)) {
    let _ = NATIVE.set(store);
}

/// The store a native build installed, if any.
#[cfg(not(target_arch = "wasm32"))]
pub fn native() -> Option<&'static dyn SharedData> {
    NATIVE.get().map(|store| {
        let store: &'static dyn SharedData = *store;
        store
    })
}

/// The store a native build installed: none in Wasm.
#[cfg(target_arch = "wasm32")]
pub fn native() -> Option<&'static dyn SharedData> {
    None
}

/// Shared data in memory with the hosts' CAS rules, for tests of the logic above it;
/// `conflicts` forces that many mismatches. An empty value reads as absent, as the guest's
/// reads of Envoy's and the harness' shared data do.
#[derive(Default)]
pub struct Memory {
    pub map: std::cell::RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>>,
    pub conflicts: std::cell::Cell<usize>,
}

impl SharedData for Memory {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.map
            .borrow()
            .get(key)
            .filter(|(v, _)| !v.is_empty())
            .cloned()
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        if self.conflicts.get() > 0 {
            self.conflicts.set(self.conflicts.get() - 1);
            return Err(SetError::CasMismatch);
        }
        let mut map = self.map.borrow_mut();
        let current = map.get(key).map_or(0, |(_, c)| *c);
        if cas != 0 && cas != current {
            return Err(SetError::CasMismatch);
        }
        map.insert(key.to_string(), (value.to_vec(), current + 1));
        Ok(())
    }
}
