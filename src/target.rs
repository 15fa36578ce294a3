//! Where a job asks its commands to go: what jobs name and the topology resolves. It lives below
//! both (`job` builds targets, `topology` turns them into nodes and runs jobs of its own).

use crate::config::NodeAddr;

/// Where a job asks its commands to go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Wherever the topology says (the master; any master of a cluster).
    Default,
    /// The node that serves a cluster slot (the master elsewhere).
    Slot(u16),
    /// A node named by Redis itself (`-MOVED` / `-ASK`, Sentinel's answer).
    Node(NodeAddr),
    /// A sentinel (its own credentials, no SELECT).
    Sentinel(NodeAddr),
}
