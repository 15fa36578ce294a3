//! Counters in the host's shared data, across the workers of one gateway (proxy-cache's bytes
//! of `memory` entries, and any filter's; one key each, so a fixed set of them). Every update is
//! a compare-and-swap loop (Envoy's and Kong's shared data semantics).

use crate::shared_data::{SetError, SharedData};

const MAX_TRIES: usize = 64;

fn parse(value: Option<Vec<u8>>) -> u64 {
    value
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Reads a counter (0 when absent).
pub fn read(data: &dyn SharedData, key: &str) -> u64 {
    parse(data.get(key).map(|(v, _)| v))
}

/// Applies `f` to a counter atomically; returns (before, after).
pub fn update(
    data: &dyn SharedData,
    key: &str,
    f: impl Fn(u64) -> u64,
) -> Result<(u64, u64), String> {
    for _ in 0..MAX_TRIES {
        let (value, cas) = match data.get(key) {
            Some((v, cas)) => (Some(v), cas),
            None => (None, 0),
        };
        if value.is_none() {
            // Shared data has no atomic create: an absent key is written unconditionally. Write
            // 0 and count with compare-and-swap from there, so two workers creating the same
            // counter at once lose a count only if one does a whole create-and-count between
            // the other's read and write.
            if data.set(key, b"0", 0) == Err(SetError::Refused) {
                return Err(format!("shared data {key:?} could not be written"));
            }
            continue;
        }
        let before = parse(value);
        let after = f(before);
        match data.set(key, crate::decimal::string(after).as_bytes(), cas) {
            Ok(()) => return Ok((before, after)),
            Err(SetError::CasMismatch) => continue,
            Err(SetError::Refused) => {
                return Err(format!("shared data {key:?} could not be written"))
            }
        }
    }
    Err(format!("shared data {key:?}: too much contention"))
}

/// Adds `n`; returns the value before.
pub fn add(data: &dyn SharedData, key: &str, n: u64) -> Result<u64, String> {
    update(data, key, |v| v.saturating_add(n)).map(|(before, _)| before)
}

/// Takes the whole value, leaving 0; returns what was taken.
pub fn take(data: &dyn SharedData, key: &str) -> Result<u64, String> {
    update(data, key, |_| 0).map(|(before, _)| before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data::Memory;

    #[test]
    fn add_returns_the_value_before_and_retries_on_conflicts() {
        let m = Memory::default();
        assert_eq!(add(&m, "k", 1).unwrap(), 0);
        m.conflicts.set(3);
        assert_eq!(add(&m, "k", 2).unwrap(), 1);
        assert_eq!(read(&m, "k"), 3);
        assert_eq!(take(&m, "k").unwrap(), 3);
        assert_eq!(read(&m, "k"), 0);
    }

    #[test]
    fn endless_contention_is_an_error_not_a_hang() {
        let m = Memory::default();
        m.conflicts.set(1000);
        assert!(add(&m, "k", 1).is_err());
    }
}
