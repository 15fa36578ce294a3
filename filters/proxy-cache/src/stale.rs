//! Stale entries (RFC 5861), beyond Kong: `stale-while-revalidate` serves a stale entry while
//! one request (the one that takes the entry's lock) fetches a fresh one; `stale-if-error`
//! serves it when the upstream answers 500, 502, 503 or 504. Each entry carries its two windows
//! (seconds past its freshness): from the response's own `Cache-Control` directives with
//! `cache_control`, else from the config.

use crate::config::Config;
use crate::entry::Entry;

/// How long an entry is fresh: its response TTL with `cache_control`, else `cache_ttl`.
pub fn fresh_for(config: &Config, entry: &Entry) -> u64 {
    if config.cache_control {
        entry.ttl
    } else {
        config.cache_ttl
    }
}

/// Seconds the entry is past its freshness at `now_s` (0 while fresh).
pub fn staleness(config: &Config, entry: &Entry, now_s: u64) -> u64 {
    let age = now_s.saturating_sub(entry.timestamp);
    age.saturating_sub(fresh_for(config, entry))
}

/// Whether the entry has outlived its freshness though it is still stored. Only for entries
/// kept longer for a stale window: Kong, with `cache_control`, serves whatever storage still
/// holds, and so does this filter when no window is configured.
pub fn past_freshness(config: &Config, entry: &Entry, now_s: u64) -> bool {
    entry.stale.longest() > 0 && staleness(config, entry, now_s) > 0
}

/// RFC 5861's errors: what makes a stale entry worth serving instead.
pub fn is_error(status: u32) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::Directives;
    use crate::windows::Windows;

    fn config(json: &str) -> Config {
        Config::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn windows_from_the_response_with_cache_control_else_the_config() {
        let c =
            config(r#"{"strategy": "redis", "stale_while_revalidate": 5, "stale_if_error": 60}"#);
        let cc = Directives::parse(Some("max-age=10, stale-while-revalidate=30"));
        assert_eq!(
            Windows::of_response(&c, &cc),
            Windows {
                while_revalidate: 5,
                if_error: 60
            },
            "without cache_control the directives are not read"
        );
        let c = config(r#"{"strategy": "redis", "cache_control": true, "stale_if_error": 60}"#);
        let w = Windows::of_response(&c, &cc);
        assert_eq!((w.while_revalidate, w.if_error, w.longest()), (30, 60, 60));
    }

    #[test]
    fn staleness_counts_from_the_end_of_freshness() {
        let c = config(r#"{"strategy": "redis", "cache_ttl": 10, "stale_if_error": 60}"#);
        let entry = Entry {
            version: 1,
            status: 200,
            headers: vec![],
            body: vec![],
            timestamp: 1000,
            ttl: 300,
            expires_at_ms: None,
            stale: Windows {
                while_revalidate: 0,
                if_error: 60,
            },
        };
        assert_eq!(staleness(&c, &entry, 1005), 0);
        assert_eq!(staleness(&c, &entry, 1025), 15);
        assert!(past_freshness(&c, &entry, 1025));
        assert!(!past_freshness(&c, &entry, 1010));
        assert!(is_error(503) && !is_error(404));
    }
}
