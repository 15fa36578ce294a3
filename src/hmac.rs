//! HMAC (RFC 2104) over SHA-256, SHA-384 and SHA-512, keys of any length, a comparison that
//! takes the same time whatever it finds (session cookies, JWT signatures, secrets), and the
//! SHA-256 hex digest (Kong's cache key, a token's id).

use sha2::{Digest, Sha256, Sha384, Sha512};

/// The SHA-2 function an HMAC is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha {
    S256,
    S384,
    S512,
}

impl Sha {
    fn block(self) -> usize {
        match self {
            Sha::S256 => 64,
            Sha::S384 | Sha::S512 => 128,
        }
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Sha::S256 => run::<Sha256>(parts),
            Sha::S384 => run::<Sha384>(parts),
            Sha::S512 => run::<Sha512>(parts),
        }
    }
}

pub fn hmac(sha: Sha, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = vec![0u8; sha.block()];
    let short;
    let key = if key.len() > block.len() {
        short = sha.digest(&[key]);
        &short[..]
    } else {
        key
    };
    for (b, k) in block.iter_mut().zip(key.iter()) {
        *b = *k;
    }
    let inner_key: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_key: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha.digest(&[&inner_key, message]);
    sha.digest(&[&outer_key, &inner])
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac(Sha::S256, key, message)
}

/// Lowercase hex of SHA-256.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    Sha256::digest(data.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, y) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc_4231_vectors() {
        let (key, data) = (b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&hmac(Sha::S256, key, data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac(Sha::S384, key, data)),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(
            hex(&hmac(Sha::S512, key, data)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        // Test case 6: a key longer than the block.
        let key = [0xaa; 131];
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            hex(&hmac_sha256(&key, data)),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
