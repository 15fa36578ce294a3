//! redis-proxy-cache's inputs: entries read back from Redis or shared data (whatever is there),
//! and what a request's cache key is made of (method, target, query, headers), with the
//! response headers that decide a TTL.

use crate::engine::Target;
use redis_proxy_cache::cache_control::{self, Directives};
use redis_proxy_cache::cache_key::{self, KeyParts};
use redis_proxy_cache::entry::Entry;
use redis_proxy_cache::windows::Windows;

pub const ENTRY: Target = Target {
    name: "cache-entry",
    seeds: || {
        let entry = Entry {
            version: 1,
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"hello\nworld".to_vec(),
            timestamp: 1_700_000_000,
            ttl: 300,
            expires_at_ms: Some(1_700_000_300_000),
            stale: Windows {
                while_revalidate: 5,
                if_error: 10,
            },
        };
        let mut bare = entry.clone();
        bare.expires_at_ms = None;
        bare.stale = Windows::default();
        vec![entry.encode(), bare.encode(), b"{}\n".to_vec()]
    },
    dictionary: &[
        "\"version\":",
        "\"headers\":[[",
        "\"body_len\":",
        "\n",
        "null",
        "-1",
    ],
    run: |input| {
        // What decodes must encode to an entry that decodes the same.
        if let Ok(entry) = Entry::decode(input) {
            let again = Entry::decode(&entry.encode());
            assert_eq!(
                again.as_ref(),
                Ok(&entry),
                "an entry did not survive a round trip"
            );
        }
    },
};

pub const KEY: Target = Target {
    name: "cache-key-inputs",
    seeds: || {
        super::texts(&[
            "GET\n/a/b?x=1&y=2&x=3\nx-v: 1\ncache-control: max-age=60, s-maxage=30\n",
            "HEAD\n/A%20b?%ZZ=&=&&y\nx-v: a,b\ncache-control: no-cache=\"set-cookie\", private\n",
            "GET\n/\n\ncache-control: max-age=\"10\", stale-while-revalidate=5\n",
        ])
    },
    dictionary: &[
        "?",
        "&",
        "=",
        "%",
        "%00",
        "\n",
        ", ",
        "max-age=",
        "\"",
        "s-maxage=",
    ],
    run: |input| {
        let text = super::text(input);
        let mut lines = text.split('\n');
        let method = lines.next().unwrap_or_default();
        let path = lines.next().unwrap_or_default();
        let header_value = lines.next().unwrap_or_default();
        let cache_control = lines.next().unwrap_or_default();
        let vary = vec!["x".to_string(), "y".to_string(), String::new()];
        let header = |_: &str| Some(header_value.to_string());
        for ignore_uri_case in [false, true] {
            let parts = KeyParts {
                consumer_id: Some(method),
                route_id: Some(path),
                method,
                path,
                protocol: "HTTP/1.1",
                ignore_uri_case,
            };
            let _ = cache_key::build(&parts, &vary, &vary, header);
        }
        let _ = cache_key::params_key(path, &[]);
        let cc = Directives::parse(Some(cache_control));
        let _ = (cc.has("no-store"), cc.number("max-age"));
        let _ = cache_control::resource_ttl(&cc, Some(header_value), 1_700_000_000);
        let _ = cache_control::content_type_matches(&vary, header_value);
    },
};
