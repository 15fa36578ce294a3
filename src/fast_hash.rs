//! The hasher of the guest's own maps: keys it hands out itself (context ids, call tokens, job
//! ids) and the Redis nodes of its config. std's default (SipHash) resists keys chosen by an
//! attacker, which these are not, and it was 7% of a realtime request's guest time in wasmtime
//! (bench/guest-profile.sh). This one mixes each word in with a rotate, an xor and a multiply.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

/// An odd constant with its bits spread (the golden ratio's fraction, 2^64 / phi).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let word = chunk
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, b)| w | u64::from(*b) << (8 * i));
            self.add(word);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(value: T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    #[test]
    fn spreads_small_ids_and_tells_strings_apart() {
        let ids: FastSet<u64> = (0..10_000u32).map(hash).collect();
        assert_eq!(ids.len(), 10_000);
        assert_ne!(hash("127.0.0.1"), hash("127.0.0.2"));
        assert_ne!(hash(("a", 1u16)), hash(("a", 2u16)));
        // The low bits (the table's buckets) differ too.
        let buckets: FastSet<u64> = (0..256u32).map(|i| hash(i) >> 56).collect();
        assert!(buckets.len() > 128, "{}", buckets.len());
    }

    #[test]
    fn maps_work_as_maps() {
        let mut m: FastMap<u32, &str> = FastMap::default();
        m.insert(7, "seven");
        assert_eq!(m.get(&7), Some(&"seven"));
        assert_eq!(m.remove(&7), Some("seven"));
        assert!(m.is_empty());
    }
}
