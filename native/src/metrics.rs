//! The filters' counters as Envoy counters, with the Wasm filters' names (under the config's
//! `metrics_namespace`; `render-envoy --native` sets `wasmcustom`, the Wasm filters' prefix).
//! Envoy takes new counters only while a config is created (on the main thread), so
//! `on_http_filter_config_new` builds the filter once there to learn its counters
//! (`defining`); a worker's filter then finds each by its config and name.

use crate::envoy;
use std::cell::Cell;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The module's own counter of the Redis calls it made over its own connections (`direct.rs`),
/// one per config, all under this one name, so Envoy sums them: with `render-envoy --native`,
/// `wasmcustom.redis_filters.redis_calls` (the tunnel path counts in the tunnel's own stats).
pub const REDIS_CALLS: &str = "redis_filters.redis_calls";

/// A counter: its config (Envoy's handle), its name, Envoy's id for it.
struct Counter {
    config: usize,
    name: String,
    envoy_id: usize,
}

/// Every counter; our metric id is the index. A destroyed config's become `None`. Workers only
/// read it (each increment, on every worker at once); configs write it.
static COUNTERS: RwLock<Vec<Option<Counter>>> = RwLock::new(Vec::new());

fn counters() -> RwLockReadGuard<'static, Vec<Option<Counter>>> {
    COUNTERS.read().unwrap_or_else(|p| p.into_inner())
}

fn counters_mut() -> RwLockWriteGuard<'static, Vec<Option<Counter>>> {
    COUNTERS.write().unwrap_or_else(|p| p.into_inner())
}

thread_local! {
    /// Whether a filter is being built to learn its counters (main thread only).
    static DEFINING: Cell<bool> = const { Cell::new(false) };
}

/// While `f` runs, counters asked for are created in Envoy.
pub fn defining<T>(f: impl FnOnce() -> T) -> T {
    DEFINING.with(|d| d.set(true));
    let out = f();
    DEFINING.with(|d| d.set(false));
    out
}

/// The id of counter `name` of `config` (Envoy's handle): created in Envoy while the config
/// is created, found afterwards.
pub fn define(config: usize, name: &str) -> Option<u32> {
    if DEFINING.with(Cell::get) {
        let mut all = counters_mut();
        if let Some(i) = find(&all, config, name) {
            return Some(i);
        }
        let envoy_id = envoy::define_counter(config, name)?;
        all.push(Some(Counter {
            config,
            name: name.to_string(),
            envoy_id,
        }));
        return u32::try_from(all.len() - 1).ok();
    }
    find(&counters(), config, name)
}

fn find(all: &[Option<Counter>], config: usize, name: &str) -> Option<u32> {
    all.iter()
        .position(|c| {
            c.as_ref()
                .is_some_and(|c| c.config == config && c.name == name)
        })
        .and_then(|i| u32::try_from(i).ok())
}

/// Adds `by` to counter `id`; false if there is no such counter.
pub fn increment(id: u32, by: i64) -> bool {
    let found = counters()
        .get(id as usize)
        .and_then(|c| c.as_ref().map(|c| (c.config, c.envoy_id)));
    match found {
        Some((config, envoy_id)) if by > 0 => envoy::increment_counter(config, envoy_id, by as u64),
        Some(_) => true,
        None => false,
    }
}

/// A config went: its counters are forgotten.
pub fn forget(config: usize) {
    for slot in counters_mut().iter_mut() {
        if slot.as_ref().is_some_and(|c| c.config == config) {
            *slot = None;
        }
    }
}

/// Counts one Redis call of the config `config` (Envoy's handle) on the module's own path.
pub fn count_redis_call(config: usize) {
    if let Some(id) = find(&counters(), config, REDIS_CALLS) {
        increment(id, 1);
    }
}
