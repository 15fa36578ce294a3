//! Redis Cluster: the slot map from `CLUSTER SLOTS`, asked of the known nodes and the configured
//! seeds in turn, cached and shared across workers. `-MOVED` updates the slot at once and
//! schedules a fresh map; a call that fails does too (the cluster may be failing over).

use super::cache::{Cached, Layout, Lookup};
use super::{Route, Target, Topology};
use crate::config::NodeAddr;
use crate::job::{Job, Outcome, Step};
use crate::resp::{Command, RedisError, Reply};
use crate::shared_data::SharedData;
use crate::slot::SLOTS;

const NO_NODE: u16 = u16::MAX;

/// Which master serves each of the 16384 slots.
#[derive(Clone)]
pub struct SlotMap {
    nodes: Vec<NodeAddr>,
    owners: Vec<u16>,
}

impl std::fmt::Debug for SlotMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotMap({:?})", self.to_text())
    }
}

/// Two maps are equal when every slot has the same node (whatever order nodes were met in).
impl PartialEq for SlotMap {
    fn eq(&self, other: &Self) -> bool {
        self.to_text() == other.to_text()
    }
}

impl Default for SlotMap {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            owners: vec![NO_NODE; usize::from(SLOTS)],
        }
    }
}

impl SlotMap {
    pub fn node(&self, slot: u16) -> Option<&NodeAddr> {
        let owner = *self.owners.get(usize::from(slot))?;
        self.nodes.get(usize::from(owner))
    }

    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// Slots that some node serves.
    pub fn covered(&self) -> usize {
        self.owners.iter().filter(|o| **o != NO_NODE).count()
    }

    pub fn assign(&mut self, first: u16, last: u16, node: &NodeAddr) {
        let index = match self.nodes.iter().position(|n| n == node) {
            Some(i) => i,
            None => {
                self.nodes.push(node.clone());
                self.nodes.len() - 1
            }
        };
        let Ok(index) = u16::try_from(index) else {
            return;
        };
        let last = last.min(SLOTS - 1);
        if first > last {
            return;
        }
        if let Some(range) = self.owners.get_mut(usize::from(first)..=usize::from(last)) {
            range.fill(index);
        }
    }

    /// Parses a `CLUSTER SLOTS` reply; an empty node ip means the node that answered.
    pub fn from_cluster_slots(reply: &Reply, answered_by: &NodeAddr) -> Option<Self> {
        let Reply::Array(ranges) = reply else {
            return None;
        };
        let mut map = Self::default();
        for range in ranges {
            let Reply::Array(fields) = range else {
                return None;
            };
            let slot = |i: usize| u16::try_from(fields.get(i)?.as_int()?).ok();
            let (first, last) = (slot(0)?, slot(1)?);
            let Some(Reply::Array(master)) = fields.get(2) else {
                return None;
            };
            let ip = std::str::from_utf8(master.first()?.as_bytes()?).ok()?;
            let port = u16::try_from(master.get(1)?.as_int()?).ok()?;
            let host = if ip.is_empty() || ip == "?" {
                answered_by.host.as_str()
            } else {
                ip
            };
            map.assign(first, last, &NodeAddr::new(host, port));
        }
        (map.covered() > 0).then_some(map)
    }
}

impl Layout for SlotMap {
    /// One line per run of slots: "first-last host:port".
    fn to_text(&self) -> String {
        let mut out = String::new();
        let mut start = 0usize;
        while start < self.owners.len() {
            let owner = self.owners.get(start).copied().unwrap_or(NO_NODE);
            let run = self
                .owners
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|o| **o == owner)
                .count();
            if let Some(node) = self.nodes.get(usize::from(owner)) {
                out.push_str(&format!("{}-{} {node}\n", start, start + run - 1));
            }
            start += run.max(1);
        }
        out
    }

    fn from_text(text: &str) -> Option<Self> {
        let mut map = Self::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (range, node) = line.split_once(' ')?;
            let (first, last) = range.split_once('-')?;
            let node = NodeAddr::parse(node)?;
            map.assign(first.parse().ok()?, last.parse().ok()?, &node);
        }
        (map.covered() > 0).then_some(map)
    }
}

pub struct Cluster {
    seeds: Vec<NodeAddr>,
    cache: Cached<SlotMap>,
    last_failed: Option<NodeAddr>,
}

impl Cluster {
    pub fn new(seeds: Vec<NodeAddr>) -> Self {
        let shared_key = format!("redis-filter:cluster:{}", super::fingerprint(&seeds));
        Self {
            seeds,
            cache: Cached::new(shared_key),
            last_failed: None,
        }
    }

    /// The nodes to ask for the slot map, in order: the known masters, then the seeds, the
    /// node that failed last at the end.
    fn candidates(&self) -> Vec<NodeAddr> {
        let known = self.cache.value().map(SlotMap::nodes).unwrap_or_default();
        let mut out: Vec<NodeAddr> = Vec::new();
        for n in known.iter().chain(self.seeds.iter()) {
            if !out.contains(n) && Some(n) != self.last_failed.as_ref() {
                out.push(n.clone());
            }
        }
        out.extend(self.last_failed.clone());
        out
    }
}

impl Topology for Cluster {
    fn resolve(
        &mut self,
        store: &dyn SharedData,
        now_ms: u64,
        target: &Target,
    ) -> Result<Route, RedisError> {
        let slot = match target {
            Target::Slot(s) => Some(*s),
            Target::Default => None,
            other => return super::fixed(other),
        };
        let map = match self.cache.lookup(store, now_ms) {
            Lookup::Use(map) => map,
            Lookup::Wait => return Ok(Route::Wait),
            Lookup::Fail(e) => return Err(e),
        };
        let node = match slot {
            Some(s) => map.node(s),
            None => map.nodes().first(),
        };
        match node {
            Some(n) => Ok(Route::data(n.clone())),
            None => {
                self.cache.refresh();
                Err(RedisError::Transport(format!(
                    "no cluster node serves slot {}",
                    slot.unwrap_or(0)
                )))
            }
        }
    }

    fn discovery(&mut self, now_ms: u64) -> Option<Box<dyn Job>> {
        if !self.cache.start(now_ms) {
            return None;
        }
        self.lookup_job()
    }

    fn lookup_job(&self) -> Option<Box<dyn Job>> {
        Some(Box::new(ClusterSlotsLookup::new(self.candidates())))
    }

    fn discovered(&mut self, store: &dyn SharedData, now_ms: u64, outcome: Outcome) {
        match super::found_text(outcome).and_then(|text| {
            SlotMap::from_text(&text)
                .ok_or_else(|| RedisError::Protocol("bad slot map".to_string()))
        }) {
            Ok(map) => self.cache.found(store, now_ms, map),
            Err(e) => self.cache.failed(now_ms, e),
        }
    }

    fn node_failed(&mut self, _now_ms: u64, node: &NodeAddr) {
        self.last_failed = Some(node.clone());
        self.cache.refresh();
    }

    fn moved(&mut self, _now_ms: u64, slot: u16, node: &NodeAddr) {
        if let Some(map) = self.cache.value_mut() {
            map.assign(slot, slot, node);
        }
        self.cache.refresh();
    }

    fn waiting_for_discovery(&self) -> bool {
        self.cache.looking()
    }
}

/// Asks node after node for `CLUSTER SLOTS` until one answers with a map. Finishes with one bulk
/// reply, the map as text.
pub struct ClusterSlotsLookup {
    candidates: Vec<NodeAddr>,
    index: usize,
    errors: Vec<String>,
}

impl ClusterSlotsLookup {
    pub fn new(candidates: Vec<NodeAddr>) -> Self {
        Self {
            candidates,
            index: 0,
            errors: Vec::new(),
        }
    }

    fn ask(&mut self) -> Step {
        match self.candidates.get(self.index) {
            Some(node) => Step::send(
                Target::Node(node.clone()),
                vec![Command::new("CLUSTER").arg("SLOTS")],
            ),
            None => Step::Done(Err(RedisError::Transport(format!(
                "no cluster node gave its slot map: {}",
                self.errors.join("; ")
            )))),
        }
    }

    fn next(&mut self, why: String) -> Step {
        if let Some(n) = self.candidates.get(self.index) {
            self.errors.push(format!("{n}: {why}"));
        }
        self.index += 1;
        self.ask()
    }
}

impl Job for ClusterSlotsLookup {
    fn start(&mut self) -> Step {
        self.ask()
    }

    fn on_replies(&mut self, replies: Vec<Reply>) -> Step {
        let reply = replies.into_iter().next().unwrap_or(Reply::Nil);
        let Some(node) = self.candidates.get(self.index) else {
            return self.ask();
        };
        match SlotMap::from_cluster_slots(&reply, node) {
            Some(map) => Step::Done(Ok(vec![Reply::Bulk(map.to_text().into_bytes())])),
            None => self.next(format!("no slot map in {reply:?}")),
        }
    }

    fn on_failure(&mut self, error: RedisError) -> Step {
        self.next(error.to_string())
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
