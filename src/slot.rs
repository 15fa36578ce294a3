//! Redis Cluster key slots: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the key, or of
//! its hash tag (the bytes between the first `{` and the next `}`, when not empty), mod 16384.

pub const SLOTS: u16 = 16384;

#[allow(clippy::indexing_slicing)] // i < 256 by the loop bound, in a const context
const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16: [u16; 256] = crc16_table();

pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, b| {
        let index = usize::from((crc >> 8) as u8 ^ b);
        (crc << 8) ^ CRC16.get(index).copied().unwrap_or(0)
    })
}

/// The part of a key that is hashed: its hash tag if it has a non-empty one, else the whole key.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = key.get(open + 1..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => rest.get(..close).unwrap_or(key),
        _ => key,
    }
}

pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hashed_part(key)) % SLOTS
}

/// The one slot all `keys` share; None if there are none or they span several slots.
pub fn common_slot<K: AsRef<[u8]>>(keys: &[K]) -> Option<u16> {
    let mut slots = keys.iter().map(|k| key_slot(k.as_ref()));
    let first = slots.next()?;
    slots.all(|s| s == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis() {
        // Values from `CLUSTER KEYSLOT` on redis-server 7.0.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hashed_part(b"no{close"), b"no{close");
    }

    #[test]
    fn common() {
        assert_eq!(common_slot::<&str>(&[]), None);
        assert_eq!(common_slot(&["{a}1", "{a}2"]), Some(key_slot(b"a")));
        assert_eq!(common_slot(&["foo", "bar"]), None);
    }
}
