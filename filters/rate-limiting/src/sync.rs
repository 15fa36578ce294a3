//! `sync_rate` mode: requests count in shared data (pending deltas and the last total read from
//! Redis, in the window's slot of the bounded table, `slots`); every `sync_rate` seconds each
//! worker flushes the deltas of the keys it touched to Redis in one pipeline and reads the
//! totals back.

use crate::slots::{self, Slot};
use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::proxy::pairs;
use redis_filter_core::SharedData;
use redis_filter_core::{Outcome, Reply, Script};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::OnceLock;

const FLUSH: &str = r#"local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return v
"#;

/// The most keys one flush carries (its pipeline and the tunnel's body stay a few hundred KiB).
const MAX_FLUSH: usize = 1000;

fn flush_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(FLUSH))
}

/// A slot's counts in `sync_rate` mode: the last total read from Redis, the deltas in flight
/// to Redis (taken by a flush whose answer has not come back) and the pending deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    total: u64,
    in_flight: u64,
    pending: u64,
}

impl Counts {
    fn of(payload: Option<&[u8]>, slot: &Slot) -> Option<Self> {
        let c = slots::counts(payload, slot)?;
        let at = |i: usize| c.get(i).copied().unwrap_or(0);
        Some(Self {
            total: at(0),
            in_flight: at(1),
            pending: at(2),
        })
    }

    fn sum(self) -> u64 {
        self.total + self.in_flight + self.pending
    }

    fn entry(self, slot: &Slot) -> Vec<u8> {
        slots::bytes(&[slot.start_ms, self.total, self.in_flight, self.pending])
    }
}

/// Changes the slot's counts if it still holds its window (`f` answers `None` to leave them);
/// returns what `f` gave, `None` when the slot holds another window or nothing.
fn change<T>(
    data: &dyn SharedData,
    slot: &Slot,
    now_ms: u64,
    f: impl Fn(Counts) -> Option<(Counts, T)>,
) -> Result<Option<T>, String> {
    let updated = slots::TABLE.update(data, &slot.name, now_ms, |cur, _| {
        let (counts, value) = f(Counts::of(cur, slot)?)?;
        Some((counts.entry(slot), slot.expires_ms, value))
    })?;
    Ok(updated.map(|u| u.value))
}

/// Counts a request; returns the usage before it (the last known total, the deltas in flight
/// to Redis and the pending deltas) and whether a live slot of another window was taken.
/// One compare-and-swap on the slot's one entry moves every count, so the workers of a gateway
/// never see a count twice or miss one.
pub fn count(data: &dyn SharedData, slot: &Slot, now_ms: u64) -> Result<(u64, bool), String> {
    let updated = slots::TABLE.update(data, &slot.name, now_ms, |cur, _| {
        let before = Counts::of(cur, slot).unwrap_or_default();
        let after = Counts {
            pending: before.pending + 1,
            ..before
        };
        Some((after.entry(slot), slot.expires_ms, before.sum()))
    })?;
    Ok(updated.map_or((0, false), |u| (u.value, u.evicted)))
}

/// The usage of a window as known here (for the previous window of a sliding window).
pub fn known(data: &dyn SharedData, slot: &Slot, now_ms: u64) -> u64 {
    slots::TABLE
        .get(data, &slot.name, now_ms)
        .and_then(|p| Counts::of(Some(&p), slot))
        .map_or(0, Counts::sum)
}

/// Moves a slot's pending deltas into flight for this worker's flush: how many it took, or
/// `None` when the slot no longer holds the window (its counts were given up to make room).
fn claim(data: &dyn SharedData, slot: &Slot, now_ms: u64) -> Option<u64> {
    let present = std::cell::Cell::new(false);
    let taken = change(data, slot, now_ms, |c| {
        present.set(true);
        (c.pending > 0).then(|| {
            let moved = Counts {
                in_flight: c.in_flight + c.pending,
                pending: 0,
                ..c
            };
            (moved, c.pending)
        })
    });
    match taken {
        Ok(Some(n)) => Some(n),
        _ if present.get() => Some(0),
        _ => None,
    }
}

/// A key this worker counted in, kept while requests come for it (until its window is over).
#[derive(Debug, Clone)]
struct Touched {
    ttl: u64,
    ends_ms: u64,
    slot: Slot,
    /// Counted in since the last flush.
    active: bool,
}

/// One worker's record of the keys to flush and the flush in flight. A flush carries only the
/// keys counted in since the one before (so its size follows the traffic of one interval, not
/// every identifier seen in the window); a key idle for a whole interval is forgotten until it
/// is counted in again, and the next flush then reads its total anew.
#[derive(Debug, Default)]
pub struct Syncer {
    touched: HashMap<Rc<str>, Touched>,
    /// The touched keys in turn: a flush takes them from the front, up to `MAX_FLUSH`, and
    /// puts the ones it keeps at the back, so that every key gets its turn.
    order: VecDeque<Rc<str>>,
    /// The keys, slots and deltas of the flush in flight, in pipeline order.
    in_flight: Option<Vec<(Rc<str>, Slot, u64)>>,
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

    /// Records that this worker counted in `key` (Kong's Redis key), held in `slot` until
    /// `ends_ms`, its window's end.
    pub fn touch(&mut self, key: &str, slot: &Slot, ttl: u64, ends_ms: u64) {
        if let Some(t) = self.touched.get_mut(key) {
            t.active = true;
            return;
        }
        let touched = Touched {
            ttl,
            ends_ms,
            slot: slot.clone(),
            active: true,
        };
        let key: Rc<str> = Rc::from(key);
        self.touched.insert(key.clone(), touched);
        self.order.push_back(key);
    }

    /// The flush to send now, if one is due and none is in flight: one pipeline with an
    /// INCRBY-and-expire per key holding a delta and a GET per other key counted in since the
    /// last flush, for at most `MAX_FLUSH` keys (more wait for the next tick's flush, in turn).
    /// A key idle since its last flush, or whose slot went to another window, or whose window
    /// is over once flushed, is forgotten.
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
        let mut kept = Vec::new();
        while batch.len() < MAX_FLUSH {
            let Some(key) = self.order.pop_front() else {
                break;
            };
            let Some(t) = self.touched.get_mut(&key) else {
                continue;
            };
            let delta = match claim(data, &t.slot, now_ms) {
                Some(0) if !t.active => None,
                claimed => claimed,
            };
            t.active = false;
            let Some(delta) = delta else {
                self.touched.remove(&key);
                continue;
            };
            let request = if delta > 0 {
                Request::script(flush_script(), &[&*key], &[delta, t.ttl])
            } else {
                Request::keyed(redis_filter_core::Command::new("GET").arg(&*key), &*key)
            };
            requests.push(request);
            batch.push((key.clone(), t.slot.clone(), delta));
            // Windows that are over need no more flushes once this one is done.
            if t.ends_ms > now_ms {
                kept.push(key);
            } else {
                self.touched.remove(&key);
            }
        }
        if !self.order.is_empty() {
            // Keys still waiting: the next tick flushes again.
            self.last_flush_ms = now_ms.saturating_sub(every_ms);
        }
        self.order.extend(kept);
        if batch.is_empty() {
            return None;
        }
        self.in_flight = Some(batch);
        Some(Pipeline::new(requests, self.max_redirections))
    }

    /// Hands the keys this worker counted in to another root of the config (a host with no
    /// tick for an idle worker: the Envoy module's main thread), which flushes them from then
    /// on; this one forgets them until they are counted in again. Each key with its slot, TTL
    /// and window's end, as proxy-wasm pairs. A flush in flight stays this one's.
    pub fn hand_over(&mut self) -> Option<Vec<u8>> {
        if self.touched.is_empty() {
            return None;
        }
        self.order.clear();
        let pairs: Vec<(String, Vec<u8>)> = self
            .touched
            .drain()
            .map(|(key, t)| {
                let mut value =
                    slots::bytes(&[t.ttl, t.ends_ms, t.slot.start_ms, t.slot.expires_ms]);
                value.extend_from_slice(t.slot.name.as_bytes());
                (key.to_string(), value)
            })
            .collect();
        Some(pairs::encode(&pairs))
    }

    /// Takes over the keys another root handed over (`hand_over`): each is flushed, and its
    /// total read back, at this root's next flush. Malformed work (a bug) is dropped.
    pub fn take_over(&mut self, work: &[u8]) {
        for (key, value) in pairs::decode(work).unwrap_or_default() {
            let words = slots::words(value.get(..32).unwrap_or_default());
            let (Some(name), &[ttl, ends_ms, start_ms, expires_ms]) = (
                value.get(32..).and_then(|n| std::str::from_utf8(n).ok()),
                words.as_slice(),
            ) else {
                continue;
            };
            let slot = Slot {
                name: name.to_string(),
                start_ms,
                expires_ms,
            };
            self.touch(&key, &slot, ttl, ends_ms);
        }
    }

    /// Whether keys wait for a flush or a flush is in flight.
    pub fn holds_work(&self) -> bool {
        !self.touched.is_empty() || self.in_flight.is_some()
    }

    /// Applies the flush's outcome: totals read back; on failure the deltas go back to be sent
    /// with the next flush. Returns an error to log. (Each step errs on the side of counting a
    /// request twice for a moment, never on not counting it.)
    pub fn done(
        &mut self,
        data: &dyn SharedData,
        now_ms: u64,
        outcome: Outcome,
    ) -> Result<(), String> {
        let batch = self.in_flight.take().unwrap_or_default();
        let settle = |slot: &Slot, delta: u64, total: Option<u64>| -> Result<(), String> {
            change(data, slot, now_ms, |c| {
                let in_flight = c.in_flight.saturating_sub(delta);
                let settled = match total {
                    // Another worker may have stored a newer total meanwhile: keep the larger.
                    Some(t) => Counts {
                        total: c.total.max(t),
                        in_flight,
                        ..c
                    },
                    None => Counts {
                        in_flight,
                        pending: c.pending + delta,
                        ..c
                    },
                };
                Some((settled, ()))
            })
            .map(|_| ())
        };
        let replies = match outcome {
            Ok(replies) if replies.len() == batch.len() => replies,
            other => {
                for (_, slot, delta) in &batch {
                    settle(slot, *delta, None)?;
                }
                return Err(match other {
                    Err(e) => format!("sync with redis failed: {e}"),
                    Ok(r) => format!("sync: {} replies for {} keys", r.len(), batch.len()),
                });
            }
        };
        for ((key, slot, delta), reply) in batch.iter().zip(replies) {
            match reply {
                Reply::Error(e) => {
                    settle(slot, *delta, None)?;
                    return Err(format!("sync of {key}: {e}"));
                }
                reply => {
                    let total = reply.as_int().unwrap_or(0).max(0) as u64;
                    settle(slot, *delta, Some(total))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Scope;
    use crate::periods::Period;
    use redis_filter_core::job::{Job, Step};
    use redis_filter_core::shared_data::Memory;
    use redis_filter_core::RedisError;

    fn slot(ident: &str) -> Slot {
        Slot::new(&Scope::default(), ident, Period::Minute, 0, 120_000, 3)
    }

    #[test]
    fn counts_locally_and_flushes_deltas_in_one_pipeline() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let (k1, k2) = (slot("1"), slot("2"));
        assert_eq!(count(&data, &k1, 0).unwrap().0, 0);
        assert_eq!(count(&data, &k1, 0).unwrap().0, 1);
        count(&data, &k2, 0).unwrap();
        s.touch("k1", &k1, 60, 60_000);
        s.touch("k2", &k2, 60, 60_000);
        let mut job = s.due(&data, 1000, 500).unwrap();
        let Step::Send(parts) = job.start() else {
            panic!()
        };
        assert_eq!(parts.iter().map(|p| p.commands.len()).sum::<usize>(), 2);
        assert!(
            s.due(&data, 2000, 500).is_none(),
            "one flush in flight at a time"
        );
        // Redis says k1 is now 7 (other gateways counted too), k2 is 3.
        let totals = s
            .in_flight
            .as_ref()
            .unwrap()
            .iter()
            .map(|(key, ..)| Reply::Int(if &**key == "k1" { 7 } else { 3 }));
        s.done(&data, 2000, Ok(totals.collect())).unwrap();
        assert_eq!(count(&data, &k1, 2000).unwrap().0, 7);
        assert_eq!(known(&data, &k2, 2000), 3);
    }

    #[test]
    fn keys_handed_over_are_flushed_by_the_root_that_takes_them() {
        let data = Memory::default();
        let (mut worker, mut main) = (Syncer::default(), Syncer::default());
        let k = slot("k");
        count(&data, &k, 0).unwrap();
        count(&data, &k, 0).unwrap();
        worker.touch("k", &k, 60, 60_000);
        assert!(worker.holds_work());
        let work = worker.hand_over().unwrap();
        assert!(!worker.holds_work() && worker.hand_over().is_none());
        assert!(
            worker.due(&data, 1000, 500).is_none(),
            "the worker forgot it"
        );
        main.take_over(&work);
        main.take_over(b"\x01\x00garbage");
        assert!(main.holds_work());
        let mut job = main.due(&data, 1000, 500).unwrap();
        let Step::Send(parts) = job.start() else {
            panic!()
        };
        assert_eq!(parts.iter().map(|p| p.commands.len()).sum::<usize>(), 1);
        let (key, taken, delta) = &main.in_flight.as_ref().unwrap()[0];
        assert_eq!((&**key, taken, *delta), ("k", &k, 2));
    }

    #[test]
    fn a_failed_flush_keeps_the_deltas() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let k = slot("k");
        count(&data, &k, 0).unwrap();
        count(&data, &k, 0).unwrap();
        s.touch("k", &k, 60, 60_000);
        s.due(&data, 1000, 500).unwrap();
        assert_eq!(
            count(&data, &k, 0).unwrap().0,
            2,
            "deltas in flight still count"
        );
        assert!(s.done(&data, 1000, Err(RedisError::Timeout)).is_err());
        let c = Counts::of(slots::TABLE.get(&data, &k.name, 1000).as_deref(), &k).unwrap();
        assert_eq!((c.pending, c.in_flight), (3, 0));
    }

    #[test]
    fn finished_windows_are_dropped_after_their_last_flush() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let k = slot("k");
        count(&data, &k, 0).unwrap();
        s.touch("k", &k, 1, 1000);
        assert!(s.due(&data, 2000, 500).is_some());
        s.done(&data, 2000, Ok(vec![Reply::Int(1)])).unwrap();
        assert!(s.due(&data, 5000, 500).is_none());
    }

    #[test]
    fn a_key_idle_for_an_interval_leaves_the_flush_until_counted_again() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let k = slot("k");
        count(&data, &k, 0).unwrap();
        s.touch("k", &k, 60, 60_000);
        assert!(s.due(&data, 1000, 500).is_some());
        s.done(&data, 1000, Ok(vec![Reply::Int(1)])).unwrap();
        assert!(s.due(&data, 2000, 500).is_none(), "idle: nothing to send");
        assert!(s.touched.is_empty());
        count(&data, &k, 2500).unwrap();
        s.touch("k", &k, 60, 60_000);
        assert!(s.due(&data, 3000, 500).is_some());
    }

    #[test]
    fn a_flush_carries_at_most_max_flush_keys_and_every_key_gets_its_turn() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let keys: Vec<(String, Slot)> = (0..MAX_FLUSH + 10)
            .map(|i| (format!("k{i}"), slot(&i.to_string())))
            .collect();
        for (key, k) in &keys {
            count(&data, k, 0).unwrap();
            s.touch(key, k, 60, 60_000);
        }
        let sizes = |s: &Syncer| s.in_flight.as_ref().map_or(0, Vec::len);
        assert!(s.due(&data, 1000, 500).is_some());
        assert_eq!(sizes(&s), MAX_FLUSH);
        s.done(&data, 1000, Ok(vec![Reply::Int(1); MAX_FLUSH]))
            .unwrap();
        // The rest go at the next tick, not a whole interval later.
        assert!(s.due(&data, 1100, 500).is_some());
        assert_eq!(sizes(&s), 10);
        let last = &s.in_flight.as_ref().unwrap()[9].0;
        assert_eq!(&**last, format!("k{}", MAX_FLUSH + 9));
    }

    #[test]
    fn a_window_whose_slot_was_taken_is_forgotten() {
        let data = Memory::default();
        let mut s = Syncer::default();
        let k = slot("k");
        s.touch("k", &k, 60, 60_000);
        // Never counted here (or its slot given to another window): nothing to send.
        assert!(s.due(&data, 1000, 500).is_none());
        assert!(s.touched.is_empty());
    }
}
