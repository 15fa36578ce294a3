//! The proxy-wasm wire formats, byte for byte as the `proxy-wasm` crate sends them. A header
//! map: a u32 count, then (key length, value length) u32 pairs, then each key and value followed
//! by a NUL, little-endian. A property path: its segments joined by NUL, with no trailing NUL
//! (ngx_wasm_module looks the path up literally: `source.address.` is not `source.address`).

/// A property path.
pub fn path(segments: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(s.as_bytes());
    }
    out
}

pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Decodes a map; a malformed one (a host bug) yields `None`, never a panic.
pub fn decode(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b) as usize)
    };
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let n = word(0)?;
    let mut sizes = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        sizes.push((word(4 + i * 8)?, word(8 + i * 8)?));
    }
    let mut at = 4 + n.checked_mul(8)?;
    let mut pairs = Vec::with_capacity(sizes.len());
    for (ks, vs) in sizes {
        let key = bytes.get(at..at.checked_add(ks)?)?;
        at += ks + 1;
        let value = bytes.get(at..at.checked_add(vs)?)?;
        at += vs + 1;
        pairs.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let pairs = [(":status", "200"), ("x-a", "")];
        let got = decode(&encode(&pairs)).unwrap();
        assert_eq!(got[0], (":status".to_string(), b"200".to_vec()));
        assert_eq!(got[1], ("x-a".to_string(), vec![]));
    }

    // Golden bytes: what the proxy-wasm crate's serializers produce for the same input.
    #[test]
    fn property_paths_are_nul_joined_without_a_trailing_nul() {
        assert_eq!(path(&["source", "address"]), b"source\0address");
        assert_eq!(path(&["kong", "route_id"]), b"kong\0route_id");
        assert_eq!(path(&["plugin_name"]), b"plugin_name");
        assert_eq!(path(&[]), b"");
        assert_eq!(path(&["a", "", "c"]), b"a\0\0c");
    }

    #[test]
    fn header_maps_match_the_crate_byte_for_byte() {
        let got = encode(&[(":status", "200"), ("x-a", "")]);
        let want: Vec<u8> = [
            &2u32.to_le_bytes()[..],
            &7u32.to_le_bytes(),
            &3u32.to_le_bytes(),
            &3u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            b":status\x00200\x00x-a\x00\x00",
        ]
        .concat();
        assert_eq!(got, want);
        assert_eq!(encode::<&str, &str>(&[]), 0u32.to_le_bytes());
    }

    #[test]
    fn malformed_maps_are_none() {
        assert_eq!(decode(&[]), Some(vec![]));
        assert!(decode(&[5, 0, 0, 0]).is_none());
        let mut bad = encode(&[("k", "v")]);
        bad.truncate(bad.len() - 2);
        assert!(decode(&bad).is_none());
        assert!(decode(&[255, 255, 255, 255, 1]).is_none());
    }
}
