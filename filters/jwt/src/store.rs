//! Credentials kept in Redis, so that every gateway node sees the same set.
//!
//! Layout: one string key per credential key (the value of `key_claim_name`, `iss` by default),
//! `<credential_prefix><key>` (default prefix `redis_jwt:credential:`), holding the consumer in
//! the shape the `consumers` config takes:
//! `{"id": …, "username": …, "custom_id": …, "jwt_secrets": [{"key": <key>, "algorithm": …,
//! "secret": … | "rsa_public_key": …}, …]}`. During a rotation `jwt_secrets` holds two entries
//! (new first); a token verified by either is accepted. A lookup is one `GET`.
//!
//! Each worker caches what it read for `credential_cache_ttl` seconds, and a key that is absent
//! for `credential_negative_ttl` seconds; so a change reaches every node within the cache TTL. If
//! Redis fails, an entry past its TTL is still used (and the failure logged).

use crate::config::{self, Consumer};
use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::{Command, Outcome, Reply};
use std::collections::HashMap;
use std::rc::Rc;

/// Entries one worker keeps at most; past it, expired ones go, then all.
const MAX_ENTRIES: usize = 10_000;

pub fn lookup_job(redis_key: &str, max_redirections: u32) -> Pipeline {
    let get = Command::new("GET").arg(redis_key);
    Pipeline::new(vec![Request::keyed(get, redis_key)], max_redirections)
}

/// The consumer stored under `redis_key` (None when absent), checked as the config's consumers
/// are; a credential whose key differs from `key` is left out.
pub fn parse_reply(outcome: Outcome, key: &str) -> Result<Option<Consumer>, String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    let reply = replies.into_iter().next().ok_or("no reply")?;
    let bytes = match reply.into_result().map_err(|e| e.to_string())? {
        Reply::Nil => return Ok(None),
        Reply::Bulk(bytes) => bytes,
        other => return Err(format!("unexpected reply to GET: {other:?}")),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("credential {key:?} in Redis is not JSON: {e}"))?;
    let mut consumer =
        config::consumer(&format!("credential {key:?}"), &value).map_err(|e| e.to_string())?;
    consumer.credentials.retain(|c| c.key == key);
    Ok(Some(consumer))
}

struct Cached {
    until_ms: u64,
    consumer: Option<Rc<Consumer>>,
}

/// What the cache knows of a key.
pub enum Known {
    /// Fresh: the consumer, or known to be absent.
    Fresh(Option<Rc<Consumer>>),
    /// Not known, or past its TTL (with what was known then).
    Stale(Option<Rc<Consumer>>),
    Unknown,
}

/// One worker's cache of credentials read from Redis.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<String, Cached>,
}

impl Cache {
    pub fn get(&self, key: &str, now_ms: u64) -> Known {
        match self.entries.get(key) {
            Some(c) if now_ms < c.until_ms => Known::Fresh(c.consumer.clone()),
            Some(c) => Known::Stale(c.consumer.clone()),
            None => Known::Unknown,
        }
    }

    pub fn put(&mut self, key: &str, consumer: Option<Rc<Consumer>>, ttl_ms: u64, now_ms: u64) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            self.entries.retain(|_, c| now_ms < c.until_ms);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        let until_ms = now_ms.saturating_add(ttl_ms);
        self.entries
            .insert(key.to_string(), Cached { until_ms, consumer });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(json: &str) -> Outcome {
        Ok(vec![Reply::Bulk(json.as_bytes().to_vec())])
    }

    #[test]
    fn a_stored_consumer_is_read_as_the_config_reads_one() {
        let json = r#"{"id": "c-1", "username": "u", "jwt_secrets": [
            {"key": "k", "secret": "new"}, {"key": "k", "secret": "old"}, {"key": "x", "secret": "y"}]}"#;
        let consumer = parse_reply(stored(json), "k").unwrap().unwrap();
        assert_eq!(consumer.id, "c-1");
        let secrets: Vec<&str> = consumer
            .credentials
            .iter()
            .map(|c| c.secret.as_str())
            .collect();
        assert_eq!(secrets, ["new", "old"]);
        assert_eq!(parse_reply(Ok(vec![Reply::Nil]), "k"), Ok(None));
        let e = parse_reply(stored("{nope"), "k").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = parse_reply(stored(r#"{"jwt_secrets": []}"#), "k").unwrap_err();
        assert!(e.contains("id: required field missing"), "{e}");
        let e = parse_reply(
            stored(r#"{"id": "c", "jwt_secrets": [{"key": "k", "algorithm": "RS256"}]}"#),
            "k",
        );
        assert!(e.unwrap_err().contains("rsa_public_key"));
        assert!(parse_reply(Ok(vec![Reply::Int(3)]), "k").is_err());
        assert!(parse_reply(Err(redis_filter_core::RedisError::Timeout), "k").is_err());
    }

    #[test]
    fn entries_are_fresh_for_their_ttl_then_stale() {
        let mut cache = Cache::default();
        assert!(matches!(cache.get("k", 0), Known::Unknown));
        cache.put("k", None, 5_000, 1_000);
        assert!(matches!(cache.get("k", 5_999), Known::Fresh(None)));
        assert!(matches!(cache.get("k", 6_000), Known::Stale(None)));
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("k{i}"), None, 10, 7_000);
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
    }
}
