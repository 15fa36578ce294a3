//! The filters' shared data in the process's memory, one store for every worker: rate
//! limiting's local counters and `sync_rate` deltas, topology caches, credential and
//! verification caches. It implements the filters' own `SharedData` trait and is installed as
//! their store at load (`redis_filter_core::shared_data::install_native`), so their reads and
//! writes reach it directly, with no proxy-wasm host function in between. The keys are spread
//! over `SHARDS` maps, each behind its own lock, so the workers' writes to different keys do
//! not wait on one another. The rules are the Wasm hosts' (the filters are written against
//! them): a value's CAS number grows with each write, a write naming another number is refused,
//! a write naming 0 always lands, and an empty value reads as absent.

use redis_filter_core::shared_data::{SetError, SharedData};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Status codes of the proxy-wasm ABI the host functions answer with.
pub const NOT_FOUND: u32 = 1;
pub const CAS_MISMATCH: u32 = 8;

/// How many maps the keys are spread over.
const SHARDS: usize = 64;

type Shard = HashMap<String, (Vec<u8>, u32)>;

/// The store: `SHARDS` maps, a key's chosen by a hash keyed at random per process (keys are
/// client identifiers, so the maps keep std's hashing too).
pub struct ProcessStore {
    shards: Vec<Mutex<Shard>>,
    spread: RandomState,
}

impl ProcessStore {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            spread: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> Option<MutexGuard<'_, Shard>> {
        let at = (self.spread.hash_one(key) % SHARDS as u64) as usize;
        // A worker that panicked while holding a lock left whole values (each write is one
        // insert): the shard stays usable.
        let shard = self.shards.get(at)?;
        Some(
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

impl SharedData for ProcessStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let shard = self.shard(key)?;
        match shard.get(key) {
            Some((value, cas)) if !value.is_empty() => Some((value.clone(), *cas)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        let mut shard = self.shard(key).ok_or(SetError::Refused)?;
        let refused = |current: u32| cas != 0 && cas != current;
        // One lookup for a key that is there (every count after the first); the key is copied
        // only for a new one.
        match shard.get_mut(key) {
            Some(entry) => {
                if refused(entry.1) {
                    return Err(SetError::CasMismatch);
                }
                entry.0.clear();
                entry.0.extend_from_slice(value);
                entry.1 = entry.1.wrapping_add(1).max(1);
            }
            None => {
                if refused(0) {
                    return Err(SetError::CasMismatch);
                }
                shard.insert(key.to_string(), (value.to_vec(), 1));
            }
        }
        Ok(())
    }
}

/// The process's store.
pub fn store() -> &'static ProcessStore {
    static STORE: OnceLock<ProcessStore> = OnceLock::new();
    STORE.get_or_init(ProcessStore::new)
}

/// The value under `key` and its CAS number (the host function's answer).
pub fn get(key: &str) -> Result<(Vec<u8>, u32), u32> {
    store().get(key).ok_or(NOT_FOUND)
}

/// Writes `value` under `key` if `cas` is 0 or the value's current CAS number (the host
/// function's answer).
pub fn set(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    store().set(key, value, cas).map_err(|e| match e {
        SetError::CasMismatch => CAS_MISMATCH,
        SetError::Refused => NOT_FOUND,
    })
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

    #[test]
    fn counts_from_many_threads_are_none_lost() {
        // Each thread adds 1000 times to its own key and to one key they share, with the
        // read-then-CAS loop the filters use.
        // (A write naming 0 always lands, so each key holds a value before they start.)
        for key in (0..4).map(|t| format!("shared_memory_own_{t}")) {
            store().set(&key, &0u64.to_le_bytes(), 0).unwrap();
        }
        store()
            .set("shared_memory_shared", &0u64.to_le_bytes(), 0)
            .unwrap();
        let add = |key: &str| loop {
            let (value, cas) = store().get(key).unwrap();
            let n = u64::from_le_bytes(value.try_into().unwrap()) + 1;
            if store().set(key, &n.to_le_bytes(), cas).is_ok() {
                return;
            }
        };
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        add(&format!("shared_memory_own_{t}"));
                        add("shared_memory_shared");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let read = |key: &str| u64::from_le_bytes(store().get(key).unwrap().0.try_into().unwrap());
        assert_eq!(read("shared_memory_shared"), 4000);
        assert!((0..4).all(|t| read(&format!("shared_memory_own_{t}")) == 1000));
    }
}
