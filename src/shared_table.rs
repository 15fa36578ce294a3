//! A table of fixed size in the host's shared data, so that what a filter keeps there stays
//! bounded however many distinct names (identifiers, cache keys) it sees. Shared data has no
//! delete in proxy-wasm (Envoy keeps every key it was ever given until the VM goes; Kong's
//! engine evicts only when its `shm_kv` zone is full), so a filter that wrote one key per
//! identifier and window would grow without end.
//!
//! A name lives in one of `probes` buckets chosen by its hash (`<prefix><bucket>`, at most
//! `capacity` keys in all; a power of two). Each entry holds 128 bits of its name's hash, the time
//! it expires and a payload. A bucket whose entry has expired is free again. When every bucket of a
//! name's group holds a live entry of another name, the entry expiring soonest is taken over (its
//! data lost), as Kong's shared dictionaries drop their least recently used items when full; the
//! answer says so (`evicted`), for a metric or a log.
//!
//! Every write is a compare-and-swap on the bucket; an update that finds the bucket changed
//! starts over.

use crate::shared_data::{SetError, SharedData};
use std::hash::Hasher;

const MAX_TRIES: usize = 64;

pub struct Table {
    prefix: &'static str,
    capacity: u64,
    probes: u64,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated<T> {
    pub value: T,
    /// A live entry of another name was taken over to make room.
    pub evicted: bool,
}

/// One entry as stored: expiry (ms, little endian), name length, name, payload.
fn encode(name: &[u8], expires_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + name.len() + payload.len());
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

/// (expires_ms, name, payload), or `None` for a blank or foreign value.
fn decode(value: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let expires = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
    let len = u16::from_le_bytes(value.get(8..10)?.try_into().ok()?) as usize;
    let name = value.get(10..10 + len)?;
    Some((expires, name, value.get(10 + len..)?))
}

/// The name as kept: 128 bits of hash (two SipHash-1-3 of it, told apart by a leading byte), so
/// an entry's size does not depend on the name. Finding two names with the same 128 bits takes
/// about 2^64 tries even knowing the hash's keys.
fn stored_name(name: &str) -> [u8; 16] {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u8(salt);
        h.write(name.as_bytes());
        h.finish().to_le_bytes()
    };
    let mut out = [0; 16];
    for (o, b) in out.iter_mut().zip(half(0).into_iter().chain(half(1))) {
        *o = b;
    }
    out
}

/// A bucket chosen for an update: its key, CAS token, the entry's payload when it is `name`'s
/// and live, and the size of the payload it holds now (live or not, anyone's).
struct Chosen {
    key: String,
    cas: u32,
    current: Option<Vec<u8>>,
    evicted: bool,
    held: usize,
}

impl Table {
    pub const fn new(prefix: &'static str, capacity: u64, probes: u64) -> Self {
        Self {
            prefix,
            capacity,
            probes,
        }
    }

    /// How many keys the table may use at most.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn buckets(&self, name: &[u8; 16]) -> impl Iterator<Item = String> + '_ {
        // The first half of the name's hash places it, the second gives the step: double
        // hashing (the step odd, so that it visits every bucket of a power-of-two table) keeps
        // the groups of different names from piling up in runs, as consecutive buckets do: with
        // 8 probes a new name finds no free place with the table half full about 1 time in 250,
        // not 1 in 30. The same buckets in every worker and every gateway.
        let word = |i: usize| {
            name.get(i..i + 8)
                .and_then(|w| w.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let (first, step) = (word(0) % self.capacity, (word(8) | 1) % self.capacity);
        (0..self.probes.min(self.capacity))
            .map(move |i| format!("{}{}", self.prefix, (first + i * step) % self.capacity))
    }

    /// The payload of `name`, if it has a live entry.
    pub fn get(&self, data: &dyn SharedData, name: &str, now_ms: u64) -> Option<Vec<u8>> {
        let name = stored_name(name);
        self.buckets(&name).find_map(|key| {
            let (value, _) = data.get(&key)?;
            match decode(&value) {
                Some((expires, n, payload)) if n == &name[..] && expires > now_ms => {
                    Some(payload.to_vec())
                }
                _ => None,
            }
        })
    }

    /// Finds `name`'s bucket, or a free one, or the one to take over.
    fn choose(&self, data: &dyn SharedData, name: &[u8; 16], now_ms: u64) -> Option<Chosen> {
        let mut free: Option<Chosen> = None;
        let mut soonest: Option<(u64, Chosen)> = None;
        for key in self.buckets(name) {
            let Some((value, cas)) = data.get(&key) else {
                free.get_or_insert(Chosen {
                    key,
                    cas: 0,
                    current: None,
                    evicted: false,
                    held: 0,
                });
                continue;
            };
            let decoded = decode(&value);
            let held = decoded.map_or(0, |(_, _, payload)| payload.len());
            match decoded {
                Some((expires, n, payload)) if n == &name[..] => {
                    let current = (expires > now_ms).then(|| payload.to_vec());
                    return Some(Chosen {
                        key,
                        cas,
                        current,
                        evicted: false,
                        held,
                    });
                }
                Some((expires, ..)) if expires > now_ms => {
                    if soonest.as_ref().is_none_or(|(e, _)| expires < *e) {
                        let chosen = Chosen {
                            key,
                            cas,
                            current: None,
                            evicted: true,
                            held,
                        };
                        soonest = Some((expires, chosen));
                    }
                }
                _ => {
                    free.get_or_insert(Chosen {
                        key,
                        cas,
                        current: None,
                        evicted: false,
                        held,
                    });
                }
            }
        }
        free.or(soonest.map(|(_, c)| c))
    }

    /// Applies `f` to `name`'s payload (`None` when it has no live entry) and the size of the
    /// payload its write would replace (`name`'s, or a dead or evicted one's: for a budget of
    /// bytes): `f` answers with the payload to store, when it expires and a value to return,
    /// or `None` to write nothing (then `Ok(None)`).
    pub fn update<T>(
        &self,
        data: &dyn SharedData,
        name: &str,
        now_ms: u64,
        f: impl Fn(Option<&[u8]>, usize) -> Option<(Vec<u8>, u64, T)>,
    ) -> Result<Option<Updated<T>>, String> {
        let name = stored_name(name);
        for _ in 0..MAX_TRIES {
            let Some(mut chosen) = self.choose(data, &name, now_ms) else {
                return Err(format!("shared table {:?} has no buckets", self.prefix));
            };
            let Some((payload, expires, value)) = f(chosen.current.as_deref(), chosen.held) else {
                return Ok(None);
            };
            if chosen.cas == 0 {
                // No atomic create in Envoy (a write without a CAS token replaces whatever is
                // there; Kong's engine refuses it over an existing key): claim the absent bucket
                // with an empty entry first (not an empty value, which hosts read as absent),
                // then write the entry by compare-and-swap from there. The bucket is looked at
                // again just before the claim: what another worker writes in it after that look
                // and before the claim is lost, so that gap is one host call, not the rest of
                // the probe.
                if data.get(&chosen.key).is_some() {
                    continue;
                }
                let claim = encode(b"", 0, b"");
                if data.set(&chosen.key, &claim, 0) == Err(SetError::Refused) {
                    return Err(format!("shared data {:?} could not be written", chosen.key));
                }
                match data.get(&chosen.key) {
                    Some((v, cas)) if v == claim => chosen.cas = cas,
                    _ => continue,
                }
            }
            match data.set(&chosen.key, &encode(&name, expires, &payload), chosen.cas) {
                Ok(()) => {
                    return Ok(Some(Updated {
                        value,
                        evicted: chosen.evicted,
                    }))
                }
                Err(SetError::CasMismatch) => continue,
                Err(SetError::Refused) => {
                    return Err(format!("shared data {:?} could not be written", chosen.key))
                }
            }
        }
        Err(format!(
            "shared table {:?}: too much contention",
            self.prefix
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data::Memory;

    fn add(table: &Table, m: &Memory, name: &str, now: u64, ttl: u64) -> Updated<u64> {
        table
            .update(m, name, now, |cur, _| {
                let n = cur.map_or(0, |p| u64::from_le_bytes(p.try_into().unwrap()));
                Some(((n + 1).to_le_bytes().to_vec(), now + ttl, n + 1))
            })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn entries_count_by_name_and_expire() {
        let t = Table::new("t|", 16, 4);
        let m = Memory::default();
        assert_eq!(add(&t, &m, "a", 0, 10).value, 1);
        assert_eq!(add(&t, &m, "a", 1, 10).value, 2);
        assert_eq!(add(&t, &m, "b", 1, 10).value, 1);
        assert_eq!(t.get(&m, "a", 5), Some(2u64.to_le_bytes().to_vec()));
        // Expired: starts again, in the same bucket.
        assert_eq!(add(&t, &m, "a", 20, 10).value, 1);
        assert_eq!(t.get(&m, "a", 31), None);
    }

    #[test]
    fn the_table_never_uses_more_keys_than_its_capacity() {
        let t = Table::new("t|", 64, 8);
        let m = Memory::default();
        let mut evictions = 0;
        for i in 0..10_000 {
            evictions += add(&t, &m, &format!("name-{i}"), i, 1_000_000 + i).evicted as u64;
        }
        assert!(m.map.borrow().len() <= 64);
        assert!(evictions >= 10_000 - 64);
        // The last name is there, and one taken over is not.
        assert_eq!(
            t.get(&m, "name-9999", 10_000),
            Some(1u64.to_le_bytes().to_vec())
        );
        assert_eq!(t.get(&m, "name-0", 10_000), None);
    }

    #[test]
    fn when_full_the_entry_expiring_soonest_is_taken_over() {
        let t = Table::new("t|", 2, 2);
        let m = Memory::default();
        add(&t, &m, "long", 0, 100);
        add(&t, &m, "short", 0, 10);
        assert!(add(&t, &m, "new", 1, 100).evicted);
        assert!(t.get(&m, "long", 2).is_some());
        assert!(t.get(&m, "short", 2).is_none());
    }

    #[test]
    fn names_are_kept_as_their_hash_and_conflicts_retry() {
        let t = Table::new("t|", 16, 4);
        let m = Memory::default();
        let long = "x".repeat(5000);
        add(&t, &m, &long, 0, 10);
        m.conflicts.set(3);
        assert_eq!(add(&t, &m, &long, 0, 10).value, 2);
        assert!(m.map.borrow().values().all(|(v, _)| v.len() == 10 + 16 + 8));
        // Nothing written when `f` declines.
        let none = t.update(&m, "other", 0, |_, _| None::<(Vec<u8>, u64, ())>);
        assert_eq!(none, Ok(None));
        assert_eq!(t.get(&m, "other", 0), None);
    }

    /// Shared data where another worker counts `name` once, right after the first look that
    /// finds `bucket` absent.
    struct Racing<'a> {
        inner: Memory,
        table: &'a Table,
        bucket: String,
        name: &'static str,
        raced: std::cell::Cell<bool>,
    }

    impl SharedData for Racing<'_> {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            let got = self.inner.get(key);
            if got.is_none() && key == self.bucket && !self.raced.replace(true) {
                add(self.table, &self.inner, self.name, 0, 10);
            }
            got
        }
        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
            self.inner.set(key, value, cas)
        }
    }

    #[test]
    fn an_entry_written_after_the_probe_looked_is_not_claimed_over() {
        let t = Table::new("t|", 16, 4);
        let first = t.buckets(&stored_name("a")).next().unwrap();
        let data = Racing {
            inner: Memory::default(),
            table: &t,
            bucket: first,
            name: "a",
            raced: false.into(),
        };
        let mine = t
            .update(&data, "a", 0, |cur, _| {
                let n = cur.map_or(0, |p| u64::from_le_bytes(p.try_into().unwrap()));
                Some(((n + 1).to_le_bytes().to_vec(), 10, n + 1))
            })
            .unwrap()
            .unwrap();
        assert!(data.raced.get());
        assert_eq!(mine.value, 2, "the other worker's count is kept");
        assert_eq!(t.get(&data, "a", 0), Some(2u64.to_le_bytes().to_vec()));
    }
}
