//! How often the guests are entered and how often they call the host, by ABI name, since the
//! process started: `GET /__harness/metrics` reports them as `harness.guest.<callback>` and
//! `harness.host.<function>` beside `harness.requests` (and `harness.recycles`, instances
//! replaced after a trap), so a benchmark divides one by the other
//! (`bench/harness-calls.sh`). Counted where the harness serves each call; what
//! proxy-wasm-host answers on its own is not seen here: `proxy_on_memory_allocate` (one entry
//! per value handed to the guest), the headers and body of a call's answer,
//! `proxy_set_effective_context` and `proxy_get_log_level`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything counted: the callbacks the harness enters, the host functions it serves, and the
/// requests the gateway answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Requests,
    OnContextCreate,
    OnRequestHeaders,
    OnRequestBody,
    OnResponseHeaders,
    OnResponseBody,
    OnLog,
    OnDone,
    OnDelete,
    OnHttpCallResponse,
    OnTick,
    GetHeaderMapValue,
    GetHeaderMapPairs,
    ReplaceHeaderMapValue,
    AddHeaderMapValue,
    RemoveHeaderMapValue,
    SetHeaderMapPairs,
    GetBufferBytes,
    SetBufferBytes,
    GetProperty,
    SetProperty,
    ContinueStream,
    SendLocalResponse,
    GetSharedData,
    SetSharedData,
    DefineMetric,
    IncrementMetric,
    RecordMetric,
    GetMetric,
    HttpCall,
    Log,
    GetCurrentTime,
    /// A filter instance replaced after a trap (a panic) or an ABI violation.
    Recycles,
}

/// The names, in the order of `Counted`.
const NAMES: [&str; 33] = [
    "harness.requests",
    "harness.guest.proxy_on_context_create",
    "harness.guest.proxy_on_request_headers",
    "harness.guest.proxy_on_request_body",
    "harness.guest.proxy_on_response_headers",
    "harness.guest.proxy_on_response_body",
    "harness.guest.proxy_on_log",
    "harness.guest.proxy_on_done",
    "harness.guest.proxy_on_delete",
    "harness.guest.proxy_on_http_call_response",
    "harness.guest.proxy_on_tick",
    "harness.host.proxy_get_header_map_value",
    "harness.host.proxy_get_header_map_pairs",
    "harness.host.proxy_replace_header_map_value",
    "harness.host.proxy_add_header_map_value",
    "harness.host.proxy_remove_header_map_value",
    "harness.host.proxy_set_header_map_pairs",
    "harness.host.proxy_get_buffer_bytes",
    "harness.host.proxy_set_buffer_bytes",
    "harness.host.proxy_get_property",
    "harness.host.proxy_set_property",
    "harness.host.proxy_continue_stream",
    "harness.host.proxy_send_local_response",
    "harness.host.proxy_get_shared_data",
    "harness.host.proxy_set_shared_data",
    "harness.host.proxy_define_metric",
    "harness.host.proxy_increment_metric",
    "harness.host.proxy_record_metric",
    "harness.host.proxy_get_metric",
    "harness.host.proxy_http_call",
    "harness.host.proxy_log",
    "harness.host.proxy_get_current_time_nanoseconds",
    "harness.recycles",
];

static COUNTS: [AtomicU64; NAMES.len()] = [const { AtomicU64::new(0) }; NAMES.len()];

/// One more of `what`.
pub fn count(what: Counted) {
    if let Some(c) = COUNTS.get(what as usize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every count that is not zero, by name.
pub fn snapshot() -> BTreeMap<String, u64> {
    NAMES
        .iter()
        .zip(&COUNTS)
        .map(|(name, c)| (name.to_string(), c.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_own_name() {
        assert_eq!(Counted::Recycles as usize, NAMES.len() - 1);
        let mut sorted = NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), NAMES.len());
    }

    #[test]
    fn counts_show_up_by_name() {
        count(Counted::OnTick);
        assert!(snapshot()["harness.guest.proxy_on_tick"] >= 1);
    }
}
