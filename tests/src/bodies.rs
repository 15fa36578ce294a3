//! Response bodies of several kinds, for the checks that a cached body comes out byte for
//! byte: the echo upstream serves each exactly (`body_hex`) with its own type, and a kong.yml
//! caches them with redis-proxy-cache alone (`/exact`) and followed by a filter that does not
//! pause (`/chained`: the engine then tells the cache's `on_response_body` no end of stream).

use crate::kong_yml::{KongYml, Route};

/// A 1x1 PNG: binary, with CR, LF, NUL and bytes over 0x7f, and no newline at its end.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\xdac\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x56\xc7\x2f\x0d\0\0\0\0IEND\xaeB`\x82";

/// `{"compressed": true, "items": [1, 2, 3]}` gzipped (ends with a NUL byte).
pub const GZIP: &[u8] = b"\x1f\x8b\x08\0\0\0\0\0\x02\x03\xabVJ\xce\xcf-(J-.NMQ\xb2R()*M\xd5QP\xca,I\xcd-\x06r\xa3\ru\x14\x8ct\x14\x8cck\x01\xe9\x97\xf4\x84(\0\0\0";

/// Text without a newline at its end.
pub const TEXT: &[u8] = b"plain text, no newline at the end";

/// One body the upstream serves: a name, the bytes, its `Content-Type` and
/// `Content-Encoding`.
pub struct Body {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    pub encoding: Option<&'static str>,
}

pub fn all() -> [Body; 3] {
    [
        Body {
            name: "png",
            bytes: PNG,
            content_type: "image/png",
            encoding: None,
        },
        Body {
            name: "gzip",
            bytes: GZIP,
            content_type: "application/json",
            encoding: Some("gzip"),
        },
        Body {
            name: "text",
            bytes: TEXT,
            content_type: "text/plain; charset=utf-8",
            encoding: None,
        },
    ]
}

/// `+` and `%`-escapes for a query value (the echo server decodes both).
fn escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Body {
    /// The path under `prefix` (`/exact`, `/chained`) that makes the echo upstream answer with
    /// this body; `tag` makes another cache entry.
    pub fn path(&self, prefix: &str, tag: &str) -> String {
        let hex: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut path = format!(
            "{prefix}/{}?tag={tag}&body_hex={hex}&header={}",
            self.name,
            escape(&format!("Content-Type:{}", self.content_type))
        );
        if let Some(encoding) = self.encoding {
            path.push_str(&format!(
                "&header={}",
                escape(&format!("Content-Encoding:{encoding}"))
            ));
        }
        path
    }
}

/// A kong.yml (`{echo}` for the upstream) caching every body kind in Redis on `redis_port`:
/// `/exact` with redis-proxy-cache alone, `/chained` with redis-rate-limiting (`local`, a limit
/// never reached) after it.
pub fn kong_yml(redis_port: u16) -> String {
    let types: Vec<String> = all()
        .iter()
        .map(|b| format!("\"{}\"", b.content_type))
        .collect();
    let cache = format!(
        r#"{{"strategy": "redis", "redis_host": "127.0.0.1", "redis_port": {redis_port}, "content_type": [{}]}}"#,
        types.join(", ")
    );
    let limit = r#"{"year": 1000000000, "policy": "local"}"#;
    let route = |name: &str| Route::at(&format!("/{name}")).name(name).strip_path(false);
    let chained = route("chained").filter("redis-proxy-cache", &cache);
    KongYml::new()
        .route(route("exact").filter("redis-proxy-cache", &cache))
        .route(chained.filter("redis-rate-limiting", limit))
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bodies_are_what_they_say() {
        assert_eq!(super::PNG.len(), 70);
        assert!(
            super::PNG.starts_with(b"\x89PNG\r\n\x1a\n") && super::PNG.ends_with(b"\xaeB`\x82")
        );
        assert_eq!(super::GZIP.len(), 58);
        assert!(super::GZIP.starts_with(b"\x1f\x8b"));
        assert!(!super::TEXT.ends_with(b"\n"));
        assert_eq!(super::escape("a/b; c=d"), "a%2Fb%3B+c%3Dd");
    }
}
