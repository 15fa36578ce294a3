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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data::Memory;

    #[test]
    fn update_returns_the_value_before_and_after_and_retries_on_conflicts() {
        let m = Memory::default();
        assert_eq!(update(&m, "k", |v| v + 1).unwrap(), (0, 1));
        m.conflicts.set(3);
        assert_eq!(update(&m, "k", |v| v + 2).unwrap(), (1, 3));
        assert_eq!(read(&m, "k"), 3);
        assert_eq!(update(&m, "k", |_| 0).unwrap(), (3, 0));
        assert_eq!(read(&m, "k"), 0);
    }

    #[test]
    fn endless_contention_is_an_error_not_a_hang() {
        let m = Memory::default();
        m.conflicts.set(1000);
        assert!(update(&m, "k", |v| v + 1).is_err());
    }
}
