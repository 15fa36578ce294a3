//! Which Redis node each command goes to: one fixed server, the node Redis Sentinel names, or
//! the owner of a key's slot in Redis Cluster. Lookups (Sentinel, `CLUSTER SLOTS`) are jobs the
//! multiplexer runs like any other; their result is cached and shared across workers.

mod cache;
mod cluster;
mod sentinel;

pub use cache::{Layout, MIN_INTERVAL_MS, RETRY_AFTER_FAILURE_MS};
pub use cluster::{Cluster, ClusterSlotsLookup, SlotMap};
pub use sentinel::{Sentinel, SentinelLookup};

pub use crate::target::Target;

use crate::config::{NodeAddr, RedisConfig, RedisMode};
use crate::job::{Job, Outcome};
use crate::resp::{RedisError, Reply};
use crate::shared_data::SharedData;

/// What kind of server a node is, for the commands that open a connection to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Data,
    Sentinel,
}

/// Where a target goes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Node(NodeAddr, Kind),
    /// Not known yet: wait for the lookup `Topology::discovery` starts.
    Wait,
}

impl Route {
    pub fn data(node: NodeAddr) -> Self {
        Route::Node(node, Kind::Data)
    }
}

pub trait Topology {
    /// Where `target` goes now.
    fn resolve(
        &mut self,
        store: &dyn SharedData,
        now_ms: u64,
        target: &Target,
    ) -> Result<Route, RedisError>;

    /// A lookup to run now, if one is due and none is running.
    fn discovery(&mut self, _now_ms: u64) -> Option<Box<dyn Job>> {
        None
    }

    /// A lookup job for a caller that cannot wait for the shared one (a request in a host where
    /// only its own calls can wake it), whatever is running. None when nothing is looked up.
    fn lookup_job(&self) -> Option<Box<dyn Job>> {
        None
    }

    /// The outcome of the job `discovery` or `lookup_job` returned.
    fn discovered(&mut self, _store: &dyn SharedData, _now_ms: u64, _outcome: Outcome) {}

    /// A call to `node` failed.
    fn node_failed(&mut self, _now_ms: u64, _node: &NodeAddr) {}

    /// `node` answered `-READONLY`: a master that was demoted, unless a replica was asked for.
    fn read_only(&mut self, now_ms: u64, node: &NodeAddr) {
        self.node_failed(now_ms, node);
    }

    /// Redis said `slot` is now served by `node` (`-MOVED`).
    fn moved(&mut self, _now_ms: u64, _slot: u16, _node: &NodeAddr) {}

    /// Whether a lookup is running (parked commands wait for it rather than fail).
    fn waiting_for_discovery(&self) -> bool {
        false
    }
}

/// Targets that name their node themselves.
fn fixed(target: &Target) -> Result<Route, RedisError> {
    match target {
        Target::Node(n) => Ok(Route::data(n.clone())),
        Target::Sentinel(n) => Ok(Route::Node(n.clone(), Kind::Sentinel)),
        Target::Default | Target::Slot(_) => {
            Err(RedisError::Transport("no node for this target".to_string()))
        }
    }
}

/// The text a lookup job finished with (one bulk reply).
fn found_text(outcome: Outcome) -> Result<String, RedisError> {
    let replies = outcome?;
    match replies.first() {
        Some(Reply::Bulk(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(RedisError::Protocol(format!("lookup ended with {other:?}"))),
    }
}

/// A short stable name for a list of nodes (FNV-1a), for shared-data keys: two filters
/// configured with the same nodes share one lookup.
fn fingerprint(nodes: &[NodeAddr]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in nodes
        .iter()
        .flat_map(|n| n.to_string().into_bytes().into_iter().chain([b',']))
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// One Redis server at a fixed address.
#[derive(Debug, Clone)]
pub struct Standalone {
    node: NodeAddr,
}

impl Standalone {
    pub fn new(node: NodeAddr) -> Self {
        Self { node }
    }
}

impl Topology for Standalone {
    fn resolve(
        &mut self,
        _store: &dyn SharedData,
        _now_ms: u64,
        target: &Target,
    ) -> Result<Route, RedisError> {
        match target {
            Target::Default | Target::Slot(_) => Ok(Route::data(self.node.clone())),
            other => fixed(other),
        }
    }
}

/// The topology a config asks for.
pub fn from_config(config: &RedisConfig) -> Box<dyn Topology> {
    match &config.mode {
        RedisMode::Standalone(node) => Box::new(Standalone::new(node.clone())),
        RedisMode::Sentinel {
            master,
            role,
            nodes,
        } => Box::new(Sentinel::new(master, *role, nodes.clone())),
        RedisMode::Cluster { nodes, .. } => Box::new(Cluster::new(nodes.clone())),
    }
}
