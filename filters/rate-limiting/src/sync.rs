//! `sync_rate` mode: requests count in shared data (a pending delta and the last total read from
//! Redis, per counter key); every `sync_rate` seconds each worker flushes the deltas of the keys
//! it touched to Redis in one pipeline and reads the totals back.

use redis_filter_core::counters;
use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::SharedData;
use redis_filter_core::{Outcome, Reply, Script};
use std::collections::HashMap;
use std::sync::OnceLock;

const FLUSH: &str = r#"local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return v
"#;

fn flush_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(FLUSH))
}

pub fn delta_key(key: &str) -> String {
    format!("{key}|delta")
}

pub fn total_key(key: &str) -> String {
    format!("{key}|total")
}

/// Deltas taken by a flush whose answer has not come back yet.
pub fn in_flight_key(key: &str) -> String {
    format!("{key}|inflight")
}

/// Moves a key's pending deltas into flight for this worker's flush; returns how many it got.
/// In flight first, then out of pending (see `count`), and the taking itself atomic: the
/// workers of a gateway share the pending counter, and each unit must leave in exactly one
/// worker's flush (another worker racing for the same units gets none and gives its claim back).
fn claim(data: &dyn SharedData, key: &str) -> u64 {
    let seen = counters::read(data, &delta_key(key));
    if seen == 0 || counters::add(data, &in_flight_key(key), seen).is_err() {
        return 0; // nothing, or not recorded as in flight: it stays pending
    }
    let taken = counters::update(data, &delta_key(key), |v| v.saturating_sub(seen))
        .map_or(0, |(before, after)| before - after);
    if taken < seen {
        let _ = counters::update(data, &in_flight_key(key), |v| {
            v.saturating_sub(seen - taken)
        });
    }
    taken
}

/// Counts a request; returns the usage before it: the last known total, the deltas in flight
/// to Redis, and the pending deltas.
///
/// A flush moves counts pending -> in flight (added there before they leave pending) and in
/// flight -> total (the total stored before they leave in flight). Read in that same order, a
/// count another worker is moving is seen once or twice for a moment, never missed.
pub fn count(data: &dyn SharedData, key: &str) -> Result<u64, String> {
    let pending = counters::add(data, &delta_key(key), 1)?;
    let in_flight = counters::read(data, &in_flight_key(key));
    let total = counters::read(data, &total_key(key));
    Ok(total + in_flight + pending)
}

/// The usage of a key as known here (for the previous window of a sliding window).
pub fn known(data: &dyn SharedData, key: &str) -> u64 {
    [total_key(key), in_flight_key(key), delta_key(key)]
        .iter()
        .map(|k| counters::read(data, k))
        .sum()
}

/// A key this worker counted in, kept until its window is over and flushed.
#[derive(Debug, Clone)]
struct Touched {
    ttl: u64,
    expires_ms: u64,
}

/// One worker's record of the keys to flush and the flush in flight.
#[derive(Debug, Default)]
pub struct Syncer {
    touched: HashMap<String, Touched>,
    /// The keys and deltas of the flush in flight, in pipeline order.
    in_flight: Option<Vec<(String, u64)>>,
    last_flush_ms: u64,
    /// MOVED / ASK redirects a flushed command follows (Redis Cluster).
    max_redirections: u32,
}

impl Syncer {
    pub fn new(max_redirections: u32) -> Self {
        Self {
            max_redirections,
            ..Self::default()
        }
    }

    pub fn touch(&mut self, key: &str, ttl: u64, expires_ms: u64) {
        self.touched
            .entry(key.to_string())
            .or_insert(Touched { ttl, expires_ms });
    }

    /// The flush to send now, if one is due and none is in flight: one pipeline with an
    /// INCRBY-and-expire per key holding a delta and a GET per other key.
    pub fn due(&mut self, data: &dyn SharedData, now_ms: u64, every_ms: u64) -> Option<Pipeline> {
        if self.in_flight.is_some()
            || now_ms < self.last_flush_ms + every_ms
            || self.touched.is_empty()
        {
            return None;
        }
        self.last_flush_ms = now_ms;
        let mut batch = Vec::new();
        let mut requests = Vec::new();
        for (key, t) in &self.touched {
            let delta = claim(data, key);
            let request = if delta > 0 {
                Request::script(flush_script(), &[key.as_str()], &[delta, t.ttl])
            } else {
                Request::keyed(
                    redis_filter_core::Command::new("GET").arg(key.as_str()),
                    key,
                )
            };
            requests.push(request);
            batch.push((key.clone(), delta));
        }
        // Windows that are over need no more flushes once this one is done.
        self.touched.retain(|_, t| t.expires_ms > now_ms);
        self.in_flight = Some(batch);
        Some(Pipeline::new(requests, self.max_redirections))
    }

    /// Applies the flush's outcome: totals read back; on failure the deltas go back to be sent
    /// with the next flush. Returns an error to log. (Each step errs on the side of counting a
    /// request twice for a moment, never on not counting it.)
    pub fn done(&mut self, data: &dyn SharedData, outcome: Outcome) -> Result<(), String> {
        let batch = self.in_flight.take().unwrap_or_default();
        let requeue = |key: &str, delta: u64| -> Result<(), String> {
            if delta > 0 {
                counters::add(data, &delta_key(key), delta)?;
                counters::update(data, &in_flight_key(key), |v| v.saturating_sub(delta))?;
            }
            Ok(())
        };
        let replies = match outcome {
            Ok(replies) if replies.len() == batch.len() => replies,
            other => {
                for (key, delta) in &batch {
                    requeue(key, *delta)?;
                }
                return Err(match other {
                    Err(e) => format!("sync with redis failed: {e}"),
                    Ok(r) => format!("sync: {} replies for {} keys", r.len(), batch.len()),
                });
            }
        };
        for ((key, delta), reply) in batch.iter().zip(replies) {
            match reply {
                Reply::Error(e) => {
                    requeue(key, *delta)?;
                    return Err(format!("sync of {key}: {e}"));
                }
                reply => {
                    let total = reply.as_int().unwrap_or(0).max(0) as u64;
                    // Another worker may have stored a newer total meanwhile: keep the larger.
                    counters::update(data, &total_key(key), |old| old.max(total))?;
                    if *delta > 0 {
                        counters::update(data, &in_flight_key(key), |v| v.saturating_sub(*delta))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::job::{Job, Step};
    use redis_filter_core::shared_data::Memory;
    use redis_filter_core::RedisError;

    #[test]
    fn counts_locally_and_flushes_deltas_in_one_pipeline() {
        let data = Memory::default();
        let mut s = Syncer::default();
        assert_eq!(count(&data, "k1").unwrap(), 0);
        assert_eq!(count(&data, "k1").unwrap(), 1);
        s.touch("k1", 60, 60_000);
        s.touch("k2", 60, 60_000);
        let mut job = s.due(&data, 1000, 500).unwrap();
        let Step::Send(parts) = job.start() else {
            panic!()
        };
        let names: Vec<String> = parts
            .iter()
            .flat_map(|p| p.commands.iter().map(|c| c.name()))
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"EVALSHA".to_string()) && names.contains(&"GET".to_string()));
        assert!(
            s.due(&data, 2000, 500).is_none(),
            "one flush in flight at a time"
        );
        // Redis says k1 is now 7 (other gateways counted too), k2 is 3.
        let replies = names
            .iter()
            .map(|name| {
                if name == "GET" {
                    Reply::Int(3)
                } else {
                    Reply::Int(7)
                }
            })
            .collect();
        s.done(&data, Ok(replies)).unwrap();
        assert_eq!(count(&data, "k1").unwrap(), 7);
    }

    #[test]
    fn a_failed_flush_keeps_the_deltas() {
        let data = Memory::default();
        let mut s = Syncer::default();
        count(&data, "k").unwrap();
        count(&data, "k").unwrap();
        s.touch("k", 60, 60_000);
        s.due(&data, 1000, 500).unwrap();
        assert_eq!(
            count(&data, "k").unwrap(),
            2,
            "deltas in flight still count"
        );
        assert!(s.done(&data, Err(RedisError::Timeout)).is_err());
        assert_eq!(counters::read(&data, &delta_key("k")), 3);
        assert_eq!(counters::read(&data, &in_flight_key("k")), 0);
    }

    #[test]
    fn finished_windows_are_dropped_after_their_last_flush() {
        let data = Memory::default();
        let mut s = Syncer::default();
        s.touch("k", 1, 1000);
        assert!(s.due(&data, 2000, 500).is_some());
        s.done(&data, Ok(vec![Reply::Nil])).unwrap();
        assert!(s.due(&data, 5000, 500).is_none());
    }
}
