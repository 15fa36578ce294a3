//! The one script of realtime mode: every configured period counted in one EVALSHA (one round
//! trip), where Kong sends one EVAL per period. Each current key is INCRed, given its TTL when
//! new, and its count before this request returned; the previous windows of a sliding window
//! are read alongside. In Redis Cluster the keys of one request hash to different slots (Kong's
//! key format has no hash tag), so there the script runs once per key, each on its slot's
//! master, all in parallel: the keys stay exactly Kong's.

use redis_filter_core::job::Request;
use redis_filter_core::{Reply, Script};
use std::sync::OnceLock;

const SOURCE: &str = r#"local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local v = redis.call('INCRBY', KEYS[i], 1)
  if v == 1 then
    redis.call('EXPIRE', KEYS[i], ARGV[i + 1])
  end
  out[i] = v - 1
end
for i = n + 1, #KEYS do
  out[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
return out
"#;

pub fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(SOURCE))
}

/// `current` are (key, ttl seconds) for each period; `previous` the previous window's keys. For
/// a standalone node or Sentinel's master (no cluster slot is worked out).
pub fn request(current: &[(String, u64)], previous: &[String]) -> Request {
    let keys: Vec<&str> = current
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(previous.iter().map(String::as_str))
        .collect();
    let mut args: Vec<u64> = Vec::with_capacity(current.len() + 1);
    args.push(current.len() as u64);
    args.extend(current.iter().map(|(_, ttl)| *ttl));
    Request::script_unslotted(script(), &keys, &args)
}

/// The same counting as `request`, one script per key (for Redis Cluster); the replies, in
/// order, carry the same counts.
pub fn per_key_requests(current: &[(String, u64)], previous: &[String]) -> Vec<Request> {
    let counted = current.iter().map(|(key, ttl)| {
        Request::script(
            script(),
            &[key.as_str()],
            &["1".to_string(), ttl.to_string()],
        )
    });
    let read = previous
        .iter()
        .map(|key| Request::script(script(), &[key.as_str()], &["0"]));
    counted.chain(read).collect()
}

/// The counts the script replies hold: priors of the current windows, then the previous windows.
pub fn counts(replies: &[Reply], expected: usize) -> Result<Vec<u64>, String> {
    let mut items = Vec::with_capacity(expected);
    for reply in replies {
        let Reply::Array(part) = reply else {
            return Err(match reply.error() {
                Some(e) => format!("rate-limiting script failed: {e}"),
                None => format!("unexpected script reply {reply:?}"),
            });
        };
        items.extend(part.iter());
    }
    if items.len() != expected {
        return Err(format!(
            "script returned {} counts, expected {expected}",
            items.len()
        ));
    }
    items
        .iter()
        .map(|r| {
            r.as_int()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| format!("not a count: {r:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_carries_every_period() {
        let r = request(&[("a".into(), 1), ("b".into(), 60)], &["pa".into()]);
        let args: Vec<String> = r
            .command
            .arguments()
            .iter()
            .map(|a| String::from_utf8_lossy(a).into())
            .collect();
        assert_eq!(args[0], "EVALSHA");
        assert_eq!(args[2..], ["3", "a", "b", "pa", "2", "1", "60"]);
        assert!(r.on_noscript.is_some());
    }

    #[test]
    fn counts_are_checked() {
        let ok = Reply::Array(vec![Reply::Int(4), Reply::Int(0)]);
        assert_eq!(counts(std::slice::from_ref(&ok), 2).unwrap(), vec![4, 0]);
        assert!(counts(std::slice::from_ref(&ok), 3).is_err());
        assert!(counts(&[Reply::Int(1)], 1).is_err());
        assert!(counts(&[Reply::Array(vec![Reply::Int(-1)])], 1).is_err());
    }

    #[test]
    fn per_key_requests_carry_the_same_counts_one_slot_each() {
        let rs = per_key_requests(&[("a".into(), 1), ("b".into(), 60)], &["pa".into()]);
        let args = |r: &Request| -> Vec<String> {
            r.command
                .arguments()
                .iter()
                .map(|a| String::from_utf8_lossy(a).into())
                .collect()
        };
        assert_eq!(args(&rs[0])[2..], ["1", "a", "1", "1"]);
        assert_eq!(args(&rs[1])[2..], ["1", "b", "1", "60"]);
        assert_eq!(args(&rs[2])[2..], ["1", "pa", "0"]);
        assert!(rs.iter().all(|r| r.slot.is_some()));
        let replies: Vec<Reply> = [3, 7, 9]
            .iter()
            .map(|n| Reply::Array(vec![Reply::Int(*n)]))
            .collect();
        assert_eq!(counts(&replies, 3).unwrap(), vec![3, 7, 9]);
    }
}
