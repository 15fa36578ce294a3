//! A layout found by asking Redis (Sentinel's master, a cluster's slot map), held by one worker
//! and shared with the others through the host's shared data, so a lookup is not repeated per
//! request nor per worker. A held layout can be suspect: `Invalid` (a call to it failed; do not
//! use it, requests wait for the next lookup) or `Refresh` (still usable, look again soon).

use crate::resp::RedisError;
use crate::shared_data::SharedData;

/// A layout that can be written to and read from shared data as text.
pub trait Layout: Sized {
    fn to_text(&self) -> String;
    fn from_text(text: &str) -> Option<Self>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    Fresh,
    Refresh,
    Invalid,
}

/// What a resolve may do with the held layout.
pub enum Lookup<'a, T> {
    Use(&'a T),
    /// A lookup is needed or running: wait for it.
    Wait,
    /// The last lookup failed moments ago: fail now rather than wait.
    Fail(RedisError),
}

/// Lookups run at most this often, and wait this long after one that failed.
pub const MIN_INTERVAL_MS: u64 = 100;
pub const RETRY_AFTER_FAILURE_MS: u64 = 250;

pub struct Cached<T> {
    shared_key: String,
    value: Option<T>,
    generation: u64,
    trust: Trust,
    looking: bool,
    not_before_ms: u64,
    last_error: Option<RedisError>,
}

impl<T: Layout> Cached<T> {
    pub fn new(shared_key: String) -> Self {
        Self {
            shared_key,
            value: None,
            generation: 0,
            trust: Trust::Invalid,
            looking: false,
            not_before_ms: 0,
            last_error: None,
        }
    }

    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub fn value_mut(&mut self) -> Option<&mut T> {
        self.value.as_mut()
    }

    /// The layout to use now: ours, or a newer one another worker shared.
    pub fn lookup(&mut self, store: &dyn SharedData, now_ms: u64) -> Lookup<'_, T> {
        if self.trust != Trust::Fresh {
            self.adopt_shared(store);
        }
        if self.trust != Trust::Invalid {
            if let Some(v) = &self.value {
                return Lookup::Use(v);
            }
        }
        match &self.last_error {
            Some(e) if !self.looking && now_ms < self.not_before_ms => Lookup::Fail(e.clone()),
            _ => Lookup::Wait,
        }
    }

    fn adopt_shared(&mut self, store: &dyn SharedData) {
        let Some((bytes, _)) = store.get(&self.shared_key) else {
            return;
        };
        let Some((generation, value)) = decode(&bytes) else {
            return;
        };
        if generation > self.generation {
            self.value = Some(value);
            self.generation = generation;
            self.trust = Trust::Fresh;
            self.last_error = None;
        }
    }

    /// Whether a lookup should start now; if so it counts as running until `found` / `failed`.
    pub fn start(&mut self, now_ms: u64) -> bool {
        let due = self.trust != Trust::Fresh || self.value.is_none();
        if !due || self.looking || now_ms < self.not_before_ms {
            return false;
        }
        self.looking = true;
        true
    }

    pub fn looking(&self) -> bool {
        self.looking
    }

    pub fn found(&mut self, store: &dyn SharedData, now_ms: u64, value: T) {
        self.looking = false;
        self.not_before_ms = now_ms + MIN_INTERVAL_MS;
        self.last_error = None;
        self.trust = Trust::Fresh;
        let text = value.to_text();
        self.value = Some(value);
        let (shared_generation, cas) = match store.get(&self.shared_key) {
            Some((bytes, cas)) => (decode::<T>(&bytes).map_or(0, |(g, _)| g), cas),
            None => (0, 0),
        };
        self.generation = shared_generation.max(self.generation) + 1;
        let encoded = format!("{}\n{text}", self.generation);
        // Losing the race only means another worker shared a lookup of its own at the same time.
        let _ = store.set(&self.shared_key, encoded.as_bytes(), cas);
    }

    pub fn failed(&mut self, now_ms: u64, error: RedisError) {
        self.looking = false;
        self.not_before_ms = now_ms + RETRY_AFTER_FAILURE_MS;
        self.last_error = Some(error);
    }

    /// A call to the held layout failed: stop using it until a lookup (ours or another
    /// worker's) replaces it.
    pub fn invalidate(&mut self) {
        self.trust = Trust::Invalid;
    }

    /// The held layout is partly out of date (a MOVED): keep using it, look again soon.
    pub fn refresh(&mut self) {
        if self.trust == Trust::Fresh {
            self.trust = Trust::Refresh;
        }
    }
}

fn decode<T: Layout>(bytes: &[u8]) -> Option<(u64, T)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (generation, rest) = text.split_once('\n')?;
    Some((generation.parse().ok()?, T::from_text(rest)?))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
