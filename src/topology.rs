//! Which Redis node a pipeline goes to. Standalone today; Sentinel and Cluster plug in here
//! (a lookup before the first call, a slot map), without the filters noticing.

use crate::config::{NodeAddr, RedisConfig, RedisMode};
use crate::resp::RedisError;

/// Where a job asks its commands to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Wherever the topology says (the master, the slot's owner).
    Default,
    /// A node named by Redis itself (`-MOVED` / `-ASK`).
    Node(NodeAddr),
}

/// The node for a target, or why there is none.
pub trait Topology {
    fn resolve(&self, target: &Target) -> Result<NodeAddr, RedisError>;
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
    fn resolve(&self, target: &Target) -> Result<NodeAddr, RedisError> {
        Ok(match target {
            Target::Default => self.node.clone(),
            Target::Node(n) => n.clone(),
        })
    }
}

/// The topology a config asks for. Sentinel and Cluster are refused until they land, with a
/// message rather than a silent fallback to a single node.
pub fn from_config(config: &RedisConfig) -> Result<Box<dyn Topology>, String> {
    match &config.mode {
        RedisMode::Standalone(node) => Ok(Box::new(Standalone::new(node.clone()))),
        RedisMode::Sentinel { .. } => Err("redis.sentinel_* is not supported yet".into()),
        RedisMode::Cluster { .. } => Err("redis.cluster_nodes is not supported yet".into()),
    }
}
