//! base64url without padding (RFC 4648 section 5), for cookies and JWTs; decoding also takes
//! the standard alphabet and padding, as Kong's JWT parser does.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64url(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = ((n >> (18 - 6 * i)) & 63) as usize;
            out.push(char::from(B64.get(index).copied().unwrap_or(b'A')));
        }
    }
    out
}

/// base64url, strictly (no padding, no other alphabet).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    decode_with(s, |c| B64.iter().position(|b| *b == c).map(|v| v as u32))
}

/// Either alphabet, padding optional (Kong's reading of JWT parts and secrets).
pub fn decode_lenient(s: &str) -> Option<Vec<u8>> {
    decode_with(s.trim_end_matches('='), |c| match c {
        b'+' => Some(62),
        b'/' => Some(63),
        _ => B64.iter().position(|b| *b == c).map(|v| v as u32),
    })
}

fn decode_with(s: &str, value: impl Fn(u8) -> Option<u32>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = value(c)?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_both_alphabets() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", &[0xff, 0xfe, 0x00]] {
            assert_eq!(b64url_decode(&b64url(data)).unwrap(), data);
        }
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
        assert!(b64url_decode("a+b").is_none());
        assert_eq!(decode_lenient("-_8="), decode_lenient("+/8"));
        assert_eq!(decode_lenient("Zm9v"), Some(b"foo".to_vec()));
        assert!(decode_lenient("Zm9*").is_none());
    }
}
