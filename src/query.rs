//! Query strings as nginx decodes them (`%XX` and `+`), for the filters that read query args.

/// `%XX` and `+` decoded.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `(name, value)` pairs of a request target's query (`/p?a=1&b` -> a=1, b with no
/// value), in order; pairs with an empty name are skipped, as nginx does.
pub fn pairs(path: &str) -> Vec<(String, Option<String>)> {
    let Some((_, query)) = path.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (unescape(n), Some(unescape(v))),
                None => (unescape(pair), None),
            };
            (!name.is_empty()).then_some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_as_nginx_does() {
        assert_eq!(unescape("a%20b+c%zz"), "a b c%zz");
        assert_eq!(
            pairs("/p?a=1&b&=x&c=%41"),
            vec![
                ("a".to_string(), Some("1".to_string())),
                ("b".to_string(), None),
                ("c".to_string(), Some("A".to_string())),
            ]
        );
        assert!(pairs("/p").is_empty());
    }
}
