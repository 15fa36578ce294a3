//! Shared data, queues and metrics for every worker's guests (proxy-wasm-host's in-memory store,
//! which has Envoy's compare-and-swap semantics), plus a record of metric names so the harness
//! can print them (`GET /__harness/metrics`), and what the shared data holds
//! (`harness.shared_data.entries` and `.bytes`, keys and values: issue 19's memory bounds).

use crate::call_counts::{count, Counted};
use proxy_wasm_host::abi::v0_2_1::types::{MetricType, Status};
use proxy_wasm_host::abi::v0_2_1::{
    InMemoryStore, InMemoryStoreLimits, Invocation, MetricId, QueueId, SharedServices, SharedValue,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The size of every shared data entry (key and value), by VM and key.
type Sizes = HashMap<(Vec<u8>, Vec<u8>), usize>;

#[derive(Default)]
pub struct SharedStore {
    inner: InMemoryStore,
    names: Mutex<BTreeMap<String, MetricId>>,
    sizes: Mutex<Sizes>,
}

impl SharedStore {
    /// Shared data bounded as Envoy's is, by nothing of its own (proxy-wasm-host's default is
    /// 4096 keys of at most 64 KiB): what a filter keeps there is bounded by the filter, and
    /// `harness.shared_data.*` shows it.
    pub fn new() -> Self {
        let limits = InMemoryStoreLimits::new()
            .with_keys(usize::MAX)
            .with_value_bytes(usize::MAX);
        Self {
            inner: InMemoryStore::new().with_limits(limits),
            ..Self::default()
        }
    }

    /// Every metric by name with its current value.
    pub fn metrics(&self, call: Invocation) -> BTreeMap<String, u64> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        names
            .into_iter()
            .filter_map(|(name, id)| self.inner.get_metric(call, id).ok().map(|v| (name, v)))
            .chain(self.shared_data_size())
            .collect()
    }

    fn shared_data_size(&self) -> [(String, u64); 2] {
        let (entries, bytes) = self
            .sizes
            .lock()
            .map_or((0, 0), |sizes| (sizes.len(), sizes.values().sum::<usize>()));
        [
            ("harness.shared_data.entries".into(), entries as u64),
            ("harness.shared_data.bytes".into(), bytes as u64),
        ]
    }
}

impl SharedServices for SharedStore {
    fn get_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
    ) -> Result<SharedValue, Status> {
        count(Counted::GetSharedData);
        self.inner.get_shared_data(call, vm_id, key)
    }
    fn set_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), Status> {
        count(Counted::SetSharedData);
        self.inner.set_shared_data(call, vm_id, key, value, cas)?;
        if let Ok(mut sizes) = self.sizes.lock() {
            sizes.insert((vm_id.to_vec(), key.to_vec()), key.len() + value.len());
        }
        Ok(())
    }
    fn register_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.register_shared_queue(call, vm_id, name)
    }
    fn resolve_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.resolve_shared_queue(call, vm_id, name)
    }
    fn enqueue_shared_queue(
        &self,
        call: Invocation,
        queue: QueueId,
        value: &[u8],
    ) -> Result<(), Status> {
        self.inner.enqueue_shared_queue(call, queue, value)
    }
    fn dequeue_shared_queue(&self, call: Invocation, queue: QueueId) -> Result<Vec<u8>, Status> {
        self.inner.dequeue_shared_queue(call, queue)
    }
    fn define_metric(
        &self,
        call: Invocation,
        vm_id: &[u8],
        kind: MetricType,
        name: &[u8],
    ) -> Result<MetricId, Status> {
        count(Counted::DefineMetric);
        let id = self.inner.define_metric(call, vm_id, kind, name)?;
        if let Ok(mut names) = self.names.lock() {
            names.insert(String::from_utf8_lossy(name).into_owned(), id);
        }
        Ok(id)
    }
    fn record_metric(&self, call: Invocation, metric: MetricId, value: u64) -> Result<(), Status> {
        count(Counted::RecordMetric);
        self.inner.record_metric(call, metric, value)
    }
    fn increment_metric(
        &self,
        call: Invocation,
        metric: MetricId,
        delta: i64,
    ) -> Result<(), Status> {
        count(Counted::IncrementMetric);
        self.inner.increment_metric(call, metric, delta)
    }
    fn get_metric(&self, call: Invocation, metric: MetricId) -> Result<u64, Status> {
        count(Counted::GetMetric);
        self.inner.get_metric(call, metric)
    }
}
