//! Each config's root context on this worker, made the first time one of the config's streams
//! starts here (a Wasm host makes one per worker's VM the same way), and its ticks. Envoy gives
//! an HTTP filter no timer, so a root's due tick runs when one of the worker's responses starts,
//! and its calls ride on that stream (held at its end until they are answered).

use crate::config::FilterConfig;
use crate::worker::{self, Root};
use redis_filter_core::proxy::{exports as wasm, set_root_factory};

/// This worker's root of `config`, made and configured if it has none yet.
pub fn root(config: &FilterConfig) -> u32 {
    if let Some(id) = worker::with(|w| w.roots.get(&config.envoy).map(|r| r.id)) {
        return id;
    }
    let id = worker::with(|w| {
        let id = w.next_id();
        w.roots.insert(
            config.envoy,
            Root {
                id,
                config: config.envoy,
                tick_ms: 0,
                next_tick_ms: 0,
                works: false,
            },
        );
        w.effective = id;
        w.configuring = Some(config.json.clone());
        id
    });
    set_root_factory(config.root);
    wasm::proxy_on_context_create(id, 0);
    // Checked by the same parser when Envoy created the config: accepted here.
    wasm::proxy_on_configure(id, config.json.len());
    worker::with(|w| w.configuring = None);
    let works = redis_filter_core::proxy::root_works(id);
    worker::with(|w| {
        if let Some(root) = w.roots.get_mut(&config.envoy) {
            root.works = works;
        }
    });
    id
}

/// Forgets this thread's root of the config `envoy` (the main thread's, as the config goes).
pub fn drop_root(envoy: usize) {
    if let Some(root) = worker::with(|w| w.roots.remove(&envoy)) {
        wasm::proxy_on_delete(root.id);
    }
}

/// Runs the ticks that are due of this worker's roots, the stream `running` carrying what they
/// send.
pub fn tick_due(running: u32) {
    let now = now_ms();
    let due: Vec<u32> = worker::with(|w| {
        w.roots
            .values_mut()
            .filter(|r| r.tick_ms > 0 && now >= r.next_tick_ms)
            .map(|r| {
                r.next_tick_ms = now + u64::from(r.tick_ms);
                r.id
            })
            .collect()
    });
    for id in due {
        worker::with(|w| w.effective = id);
        wasm::proxy_on_tick(id);
    }
    worker::with(|w| w.effective = running);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
