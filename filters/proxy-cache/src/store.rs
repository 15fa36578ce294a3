//! Where entries live. Redis: one string per entry, key
//! `proxy-cache:<route id or default>:{<cache key>}` (the route part lets an operator flush one
//! route with `redis-cli --scan --pattern 'proxy-cache:<route id>:*'`), its TTL the storage TTL.
//! Beside it, while one request fetches a cold entry for everyone (coalescing), `...:lock` (who
//! fetches, `SET NX PX`) and `...:done` (a list the waiters block on); the braces keep all
//! three in one slot on a Cluster. A lookup is one GET (one EVALSHA with coalescing), a write one
//! SET with EX (in the same call as the lock's release), a purge one DEL. `memory`: the host's
//! shared data, named by the same key (`memory`).

use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::{Command, Outcome, Reply, Script};
use std::sync::OnceLock;

/// The keys of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keys {
    pub entry: String,
    pub lock: String,
    pub done: String,
}

impl Keys {
    pub fn new(scope: &str, cache_key: &str) -> Self {
        let entry = redis_key(scope, cache_key);
        Self {
            lock: format!("{entry}:lock"),
            done: format!("{entry}:done"),
            entry,
        }
    }
}

/// The entry, or else the right to fetch it (the lock, taken), or else someone else has it.
const LOOKUP: &str = r#"local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('DEL', KEYS[3])
  return {2}
end
return {3}
"#;

fn lookup_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(LOOKUP))
}

/// What a coalescing lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Entry(Vec<u8>),
    /// No entry; this request holds the lock and fetches it for everyone.
    Fetch,
    /// No entry; another request is fetching it.
    Wait,
}

pub fn lookup_job(keys: &Keys, lock_ms: u64, max_redirections: u32) -> Pipeline {
    let names = [keys.entry.as_str(), keys.lock.as_str(), keys.done.as_str()];
    let request = Request::script(lookup_script(), &names, &[lock_ms.to_string()]);
    Pipeline::new(vec![request], max_redirections)
}

pub fn looked_up(outcome: Outcome) -> Result<Lookup, String> {
    let items = match only(outcome)? {
        Reply::Array(items) => items,
        other => return Err(format!("unexpected reply to the lookup: {other:?}")),
    };
    let mut items = items.into_iter();
    match (items.next().and_then(|r| r.as_int()), items.next()) {
        (Some(1), Some(Reply::Bulk(v))) => Ok(Lookup::Entry(v)),
        (Some(2), _) => Ok(Lookup::Fetch),
        (Some(3), _) => Ok(Lookup::Wait),
        _ => Err("unexpected reply to the lookup".into()),
    }
}

/// Waits (blocking) until the fetcher says it is done or `wait_s` seconds pass, then reads the
/// entry: one round trip. Only where each request's work goes in calls of its own (Kong's
/// engine, through the bridge's pooled connections); Envoy's tunnel half-closes the Redis
/// connection after the body, which ends a blocked command. `BRPOPLPUSH done done` hands the
/// list's one element back to itself, so every waiter wakes; it is in every Redis since 2.2
/// (`BLMOVE`, its successor, is 6.2+), and Redis 5.0 takes its timeout in whole seconds only.
pub fn wait_job(keys: &Keys, wait_s: u64, max_redirections: u32) -> Pipeline {
    let wait = Command::new("BRPOPLPUSH")
        .arg(keys.done.as_str())
        .arg(keys.done.as_str())
        .arg(wait_s.max(1).to_string());
    let get = Command::new("GET").arg(keys.entry.as_str());
    let requests = vec![
        Request::keyed(wait, &keys.done),
        Request::keyed(get, &keys.entry),
    ];
    Pipeline::new(requests, max_redirections)
}

/// A wait's answer: the entry, None when there is none (the fetcher failed, or took too long).
pub fn waited(outcome: Outcome) -> Result<Option<Vec<u8>>, String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    match replies.into_iter().nth(1).map(Reply::into_result) {
        Some(Ok(Reply::Bulk(v))) => Ok(Some(v)),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no reply to the wait".into()),
    }
}

/// Gives the lock back and wakes the waiters (after the entry's SET when there is one).
fn release(keys: &Keys, found: bool, lock_ms: u64) -> Vec<Request> {
    let rpush = Command::new("RPUSH")
        .arg(keys.done.as_str())
        .arg(if found { "1" } else { "0" });
    let expire = Command::new("PEXPIRE")
        .arg(keys.done.as_str())
        .arg(lock_ms.to_string());
    vec![
        Request::keyed(Command::new("DEL").arg(keys.lock.as_str()), &keys.lock),
        Request::keyed(rpush, &keys.done),
        Request::keyed(expire, &keys.done),
    ]
}

/// Takes the entry's lock to fetch a fresh copy of a stale one (`SET NX PX`).
pub fn lock_job(keys: &Keys, lock_ms: u64, max_redirections: u32) -> Pipeline {
    let set = Command::new("SET")
        .arg(keys.lock.as_str())
        .arg("1")
        .arg("NX")
        .arg("PX")
        .arg(lock_ms.to_string());
    Pipeline::new(vec![Request::keyed(set, &keys.lock)], max_redirections)
}

/// Whether the lock was taken.
pub fn locked(outcome: Outcome) -> Result<bool, String> {
    match only(outcome)? {
        Reply::Nil => Ok(false),
        r if r.is_ok() => Ok(true),
        other => Err(format!("unexpected reply to SET NX: {other:?}")),
    }
}

/// The fetcher could not keep the response: the waiters go upstream themselves.
pub fn release_job(keys: &Keys, lock_ms: u64, max_redirections: u32) -> Pipeline {
    Pipeline::new(release(keys, false, lock_ms), max_redirections)
}

pub fn redis_key(scope: &str, cache_key: &str) -> String {
    format!("proxy-cache:{scope}:{{{cache_key}}}")
}

pub fn fetch_job(key: &str, max_redirections: u32) -> Pipeline {
    let get = Command::new("GET").arg(key);
    Pipeline::new(vec![Request::keyed(get, key)], max_redirections)
}

/// The entry's SET, and with `lock_ms` (the writer fetched for waiters) the lock's release.
pub fn store_job(
    keys: &Keys,
    value: Vec<u8>,
    ttl_s: u64,
    lock_ms: Option<u64>,
    max_redirections: u32,
) -> Pipeline {
    let set = Command::new("SET")
        .arg(keys.entry.as_str())
        .arg(value)
        .arg("EX")
        .arg(ttl_s.to_string());
    let mut requests = vec![Request::keyed(set, &keys.entry)];
    if let Some(ms) = lock_ms {
        requests.extend(release(keys, true, ms));
    }
    Pipeline::new(requests, max_redirections)
}

pub fn purge_job(key: &str, max_redirections: u32) -> Pipeline {
    let del = Command::new("DEL").arg(key);
    Pipeline::new(vec![Request::keyed(del, key)], max_redirections)
}

/// The first reply (what a job's first command answered).
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

/// A SET's answer (the lock's release after it, if any, is not looked at).
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

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::resp::RedisError;

    #[test]
    fn replies_read() {
        assert_eq!(
            fetched(Ok(vec![Reply::Bulk(b"x".to_vec())])),
            Ok(Some(b"x".to_vec()))
        );
        assert_eq!(fetched(Ok(vec![Reply::Nil])), Ok(None));
        assert!(fetched(Err(RedisError::Timeout)).is_err());
        assert!(stored(Ok(vec![Reply::Status("OK".into())])).is_ok());
        assert_eq!(locked(Ok(vec![Reply::Status("OK".into())])), Ok(true));
        assert_eq!(locked(Ok(vec![Reply::Nil])), Ok(false));
        assert_eq!(deleted(Ok(vec![Reply::Int(1)])), Ok(true));
        assert_eq!(deleted(Ok(vec![Reply::Int(0)])), Ok(false));
        assert_eq!(redis_key("default", "abc"), "proxy-cache:default:{abc}");
        let entry = Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"e".to_vec())]);
        assert_eq!(looked_up(Ok(vec![entry])), Ok(Lookup::Entry(b"e".to_vec())));
        let fetch = Reply::Array(vec![Reply::Int(2)]);
        assert_eq!(looked_up(Ok(vec![fetch])), Ok(Lookup::Fetch));
        let wait = Reply::Array(vec![Reply::Int(3)]);
        assert_eq!(looked_up(Ok(vec![wait])), Ok(Lookup::Wait));
        assert!(looked_up(Ok(vec![Reply::Nil])).is_err());
        let woke = vec![Reply::Bulk(b"1".to_vec()), Reply::Bulk(b"e".to_vec())];
        assert_eq!(waited(Ok(woke)), Ok(Some(b"e".to_vec())));
        assert_eq!(waited(Ok(vec![Reply::Nil, Reply::Nil])), Ok(None));
        let keys = Keys::new("r", "k");
        assert_eq!(keys.lock, "proxy-cache:r:{k}:lock");
        assert_eq!(keys.done, "proxy-cache:r:{k}:done");
    }
}
