//! Where entries live. Redis: one string per entry, key
//! `proxy-cache:<route id or default>:{<cache key>}` (the braces keep a future companion key of
//! the same entry in its slot on a Cluster; the route part lets an operator flush one route with
//! `redis-cli --scan --pattern 'proxy-cache:<route id>:*'`), its TTL the storage TTL; a lookup is
//! one GET, a write one SET with EX, a purge one DEL. `memory`: the host's shared data under the
//! same key, the expiry kept in the entry.

use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::shared_data::SharedData;
use redis_filter_core::{Command, Outcome, Reply};

pub fn redis_key(scope: &str, cache_key: &str) -> String {
    format!("proxy-cache:{scope}:{{{cache_key}}}")
}

pub fn fetch_job(key: &str, max_redirections: u32) -> Pipeline {
    let get = Command::new("GET").arg(key);
    Pipeline::new(vec![Request::keyed(get, key)], max_redirections)
}

pub fn store_job(key: &str, value: Vec<u8>, ttl_s: u64, max_redirections: u32) -> Pipeline {
    let set = Command::new("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(ttl_s.to_string());
    Pipeline::new(vec![Request::keyed(set, key)], max_redirections)
}

pub fn purge_job(key: &str, max_redirections: u32) -> Pipeline {
    let del = Command::new("DEL").arg(key);
    Pipeline::new(vec![Request::keyed(del, key)], max_redirections)
}

fn only(outcome: Outcome) -> Result<Reply, String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    let reply = replies.into_iter().next().ok_or("no reply")?;
    reply.into_result().map_err(|e| e.to_string())
}

/// A GET's answer: the stored bytes, None when absent.
pub fn fetched(outcome: Outcome) -> Result<Option<Vec<u8>>, String> {
    match only(outcome)? {
        Reply::Bulk(bytes) => Ok(Some(bytes)),
        Reply::Nil => Ok(None),
        other => Err(format!("unexpected reply to GET: {other:?}")),
    }
}

/// A SET's answer.
pub fn stored(outcome: Outcome) -> Result<(), String> {
    match only(outcome)? {
        r if r.is_ok() => Ok(()),
        other => Err(format!("unexpected reply to SET: {other:?}")),
    }
}

/// A DEL's answer: whether there was an entry.
pub fn deleted(outcome: Outcome) -> Result<bool, String> {
    only(outcome)?
        .as_int()
        .map(|n| n > 0)
        .ok_or_else(|| "unexpected reply to DEL".to_string())
}

/// `memory`: the stored bytes (empty means purged).
pub fn memory_get(data: &dyn SharedData, key: &str) -> Option<Vec<u8>> {
    data.get(key).map(|(v, _)| v).filter(|v| !v.is_empty())
}

pub fn memory_set(data: &dyn SharedData, key: &str, value: &[u8]) -> Result<(), String> {
    data.set(key, value, 0).map_err(|e| format!("{e:?}"))
}

/// `memory`: purges an entry; whether there was one.
pub fn memory_delete(data: &dyn SharedData, key: &str) -> Result<bool, String> {
    if memory_get(data, key).is_none() {
        return Ok(false);
    }
    memory_set(data, key, b"").map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::resp::RedisError;
    use redis_filter_core::shared_data::Memory;

    #[test]
    fn replies_read() {
        assert_eq!(
            fetched(Ok(vec![Reply::Bulk(b"x".to_vec())])),
            Ok(Some(b"x".to_vec()))
        );
        assert_eq!(fetched(Ok(vec![Reply::Nil])), Ok(None));
        assert!(fetched(Err(RedisError::Timeout)).is_err());
        assert!(stored(Ok(vec![Reply::Status("OK".into())])).is_ok());
        assert_eq!(deleted(Ok(vec![Reply::Int(1)])), Ok(true));
        assert_eq!(deleted(Ok(vec![Reply::Int(0)])), Ok(false));
        assert_eq!(redis_key("default", "abc"), "proxy-cache:default:{abc}");
    }

    #[test]
    fn memory_entries_purge() {
        let m = Memory::default();
        assert_eq!(memory_delete(&m, "k"), Ok(false));
        memory_set(&m, "k", b"v").unwrap();
        assert_eq!(memory_get(&m, "k"), Some(b"v".to_vec()));
        assert_eq!(memory_delete(&m, "k"), Ok(true));
        assert_eq!(memory_get(&m, "k"), None);
    }
}
