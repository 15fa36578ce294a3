//! The filters' shared data in the process's memory, one store for every worker, behind a lock:
//! rate limiting's local counters and `sync_rate` deltas, topology caches, credential and
//! verification caches. The rules are the Wasm hosts' (the filters are written against them):
//! a value's CAS number grows with each write, a write naming another number is refused, a
//! write naming 0 always lands, and an empty value reads as absent.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Status codes of the proxy-wasm ABI the host functions answer with.
pub const NOT_FOUND: u32 = 1;
pub const CAS_MISMATCH: u32 = 8;

type Store = HashMap<String, (Vec<u8>, u32)>;

fn store() -> MutexGuard<'static, Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    // A worker that panicked while holding the lock left whole values (each write is one
    // insert): the store stays usable.
    STORE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value under `key` and its CAS number.
pub fn get(key: &str) -> Result<(Vec<u8>, u32), u32> {
    match store().get(key) {
        Some((value, cas)) if !value.is_empty() => Ok((value.clone(), *cas)),
        _ => Err(NOT_FOUND),
    }
}

/// Writes `value` under `key` if `cas` is 0 or the value's current CAS number.
pub fn set(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    let mut store = store();
    let current = store.get(key).map_or(0, |(_, c)| *c);
    if cas != 0 && cas != current {
        return Err(CAS_MISMATCH);
    }
    store.insert(
        key.to_string(),
        (value.to_vec(), current.wrapping_add(1).max(1)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_follow_the_cas_rules_of_the_wasm_hosts() {
        let key = "shared_memory_test_key";
        assert_eq!(get(key), Err(NOT_FOUND));
        assert_eq!(set(key, b"1", 0), Ok(()));
        let (value, cas) = get(key).unwrap();
        assert_eq!(value, b"1");
        assert_eq!(set(key, b"2", cas + 5), Err(CAS_MISMATCH));
        assert_eq!(set(key, b"2", cas), Ok(()));
        assert_eq!(get(key).unwrap(), (b"2".to_vec(), cas + 1));
        assert_eq!(set(key, b"", 0), Ok(()));
        assert_eq!(get(key), Err(NOT_FOUND), "empty reads as absent");
    }

    #[test]
    fn every_thread_sees_the_same_store() {
        let key = "shared_memory_threads_key";
        std::thread::spawn(move || set(key, b"x", 0))
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(get(key).unwrap().0, b"x");
    }
}
