//! The `memory` strategy: entries in the host's shared data, in a bounded table
//! (`redis_filter_core::shared_table`, at most `CAPACITY` keys, named by the entry's Redis key)
//! holding at most `BUDGET` bytes of entries in all, the size of Kong's default `kong_db_cache`
//! dictionary (`mem_cache_size`) that Kong's memory strategy uses. An entry stays until its
//! storage TTL ends; a purge blanks it. When a new entry would go past the budget it is not
//! kept (the response is served all the same), unless it takes the place of as many bytes of
//! an entry whose time is over: Kong's dictionary would drop its least recently used entries
//! instead, which shared data cannot do.

use redis_filter_core::counters;
use redis_filter_core::shared_data::SharedData;
use redis_filter_core::shared_table::Table;

pub const CAPACITY: u64 = 16_384;
pub const BUDGET: usize = 128 * 1024 * 1024;
const TABLE: Table = Table::new("proxy-cache|", CAPACITY, 8);
/// The bytes of entries held, in decimal.
const BYTES: &str = "proxy-cache|bytes";

/// The stored entry of `key`, if it is there and its time is not over.
pub fn get(data: &dyn SharedData, key: &str, now_ms: u64) -> Option<Vec<u8>> {
    TABLE.get(data, key, now_ms).filter(|v| !v.is_empty())
}

/// Stores `value` under `key` until `expires_ms`: `None` when it was not kept (the budget is
/// spent), else whether a live entry of another key gave way.
pub fn set(
    data: &dyn SharedData,
    key: &str,
    value: &[u8],
    expires_ms: u64,
    now_ms: u64,
) -> Result<Option<bool>, String> {
    let held = held(data);
    let kept = TABLE.update(data, key, now_ms, |_, replaced| {
        let after = held.saturating_sub(replaced) + value.len();
        (after <= BUDGET).then(|| (value.to_vec(), expires_ms, replaced))
    })?;
    match kept {
        Some(k) => account(data, value.len(), k.value).map(|_| Some(k.evicted)),
        None => Ok(None),
    }
}

/// Purges `key`'s entry; whether there was one.
pub fn delete(data: &dyn SharedData, key: &str, now_ms: u64) -> Result<bool, String> {
    let blanked = TABLE.update(data, key, now_ms, |cur, replaced| {
        cur.filter(|c| !c.is_empty())
            .map(|_| (Vec::new(), 0, replaced))
    })?;
    match blanked {
        Some(b) => account(data, 0, b.value).map(|_| true),
        None => Ok(false),
    }
}

/// The bytes of entries held now (as last counted).
pub fn held(data: &dyn SharedData) -> usize {
    counters::read(data, BYTES) as usize
}

/// Counts `added` bytes in and `removed` out.
fn account(data: &dyn SharedData, added: usize, removed: usize) -> Result<(), String> {
    counters::update(data, BYTES, |before| {
        (before + added as u64).saturating_sub(removed as u64)
    })
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::shared_data::Memory;

    #[test]
    fn entries_are_kept_until_their_time_and_purged() {
        let m = Memory::default();
        assert_eq!(delete(&m, "k", 0), Ok(false));
        assert_eq!(set(&m, "k", b"value", 1000, 0), Ok(Some(false)));
        assert_eq!(get(&m, "k", 10), Some(b"value".to_vec()));
        assert_eq!(held(&m), 5);
        assert_eq!(set(&m, "k", b"v2", 1000, 20), Ok(Some(false)));
        assert_eq!(held(&m), 2);
        assert_eq!(get(&m, "k", 1000), None, "its time is over");
        assert_eq!(set(&m, "k", b"v3", 2000, 1000), Ok(Some(false)));
        assert_eq!(delete(&m, "k", 1001), Ok(true));
        assert_eq!(get(&m, "k", 1002), None);
        assert_eq!(held(&m), 0);
    }

    #[test]
    fn past_the_budget_an_entry_is_not_kept() {
        let m = Memory::default();
        let big = vec![b'x'; BUDGET - 10];
        assert_eq!(set(&m, "a", &big, 1000, 0), Ok(Some(false)));
        assert_eq!(set(&m, "b", &[b'y'; 11], 1000, 0), Ok(None));
        assert_eq!(get(&m, "b", 1), None);
        assert_eq!(set(&m, "c", &[b'z'; 10], 1000, 0), Ok(Some(false)));
        // Once "a" is over, an entry taking its place is kept.
        assert_eq!(set(&m, "a", &[b'w'; 100], 3000, 2000), Ok(Some(false)));
        assert_eq!(held(&m), 110);
    }
}
