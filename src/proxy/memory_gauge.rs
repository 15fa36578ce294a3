//! The guest's own memory as a gauge, `<filter>.memory_bytes` (`redis_rate_limiting.memory_bytes`
//! and so on): the size of the instance's linear memory, which only grows. Defined when a root
//! is configured and recorded whenever the memory has grown since the last record, so a steady
//! guest makes no host call for it. Every worker records into the same gauge; it shows the last
//! worker that grew. The measurement of issue 19 (`scripts/memory.sh`) reads it where the host
//! shows metrics (the harness, Envoy; not a plain nginx with Kong's engine).

use super::abi::{self, MetricType};
use std::cell::Cell;

thread_local! {
    static NAME: Cell<&'static str> = const { Cell::new("") };
    /// The gauge's id once defined, and the size last recorded.
    static GAUGE: Cell<(Option<u32>, usize)> = const { Cell::new((None, 0)) };
}

/// The filter's name (its crate's, `redis-rate-limiting`), given once at `_initialize`.
pub fn name(crate_name: &'static str) {
    NAME.with(|n| n.set(crate_name));
}

/// Defines the gauge (once) and records the size.
pub fn define() {
    let (id, last) = GAUGE.with(Cell::get);
    if id.is_none() {
        let name = NAME.with(Cell::get);
        if name.is_empty() {
            return;
        }
        let metric = format!("{}.memory_bytes", name.replace('-', "_"));
        let id = abi::define_metric(MetricType::Gauge, &metric).ok();
        GAUGE.with(|g| g.set((id, last)));
    }
    observe();
}

/// Records the size if it grew.
pub fn observe() {
    let bytes = linear_memory_bytes();
    let (id, last) = GAUGE.with(Cell::get);
    if let Some(id) = id {
        if bytes > last {
            let _ = abi::record_metric(id, bytes as u64);
            GAUGE.with(|g| g.set((Some(id), bytes)));
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn linear_memory_bytes() -> usize {
    core::arch::wasm32::memory_size(0) * 65536
}

#[cfg(not(target_arch = "wasm32"))]
fn linear_memory_bytes() -> usize {
    0
}
