//! Redis Sentinel: the node to use (the master, or a replica for `sentinel_role: slave`) is
//! asked of the sentinels in turn, checked with `ROLE`, cached and shared across workers, and
//! looked up again when a call to it fails or it answers `-READONLY` (it was demoted).

use super::cache::{Cached, Layout, Lookup};
use super::{Route, Target, Topology};
use crate::config::{NodeAddr, SentinelRole};
use crate::job::{Job, Outcome, Step};
use crate::resp::{Command, RedisError, Reply};
use crate::shared_data::SharedData;

impl Layout for NodeAddr {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        NodeAddr::parse(text.trim())
    }
}

pub struct Sentinel {
    master: String,
    role: SentinelRole,
    sentinels: Vec<NodeAddr>,
    cache: Cached<NodeAddr>,
}

impl Sentinel {
    pub fn new(master: &str, role: SentinelRole, sentinels: Vec<NodeAddr>) -> Self {
        let shared_key = format!(
            "redis-filter:sentinel:{}:{master}:{role:?}",
            super::fingerprint(&sentinels)
        );
        Self {
            master: master.to_string(),
            role,
            sentinels,
            cache: Cached::new(shared_key),
        }
    }
}

impl Topology for Sentinel {
    fn resolve(
        &mut self,
        store: &dyn SharedData,
        now_ms: u64,
        target: &Target,
    ) -> Result<Route, RedisError> {
        match target {
            Target::Default | Target::Slot(_) => match self.cache.lookup(store, now_ms) {
                Lookup::Use(node) => Ok(Route::data(node.clone())),
                Lookup::Wait => Ok(Route::Wait),
                Lookup::Fail(e) => Err(e),
            },
            other => super::fixed(other),
        }
    }

    fn discovery(&mut self, now_ms: u64) -> Option<Box<dyn Job>> {
        if !self.cache.start(now_ms) {
            return None;
        }
        self.lookup_job()
    }

    fn lookup_job(&self) -> Option<Box<dyn Job>> {
        Some(Box::new(SentinelLookup::new(
            &self.master,
            self.role,
            self.sentinels.clone(),
        )))
    }

    fn discovered(&mut self, store: &dyn SharedData, now_ms: u64, outcome: Outcome) {
        match super::found_text(outcome).and_then(|text| {
            NodeAddr::from_text(&text)
                .ok_or_else(|| RedisError::Protocol(format!("bad node {text:?}")))
        }) {
            Ok(node) => self.cache.found(store, now_ms, node),
            Err(e) => self.cache.failed(now_ms, e),
        }
    }

    fn node_failed(&mut self, _now_ms: u64, node: &NodeAddr) {
        if self.cache.value() == Some(node) {
            self.cache.invalidate();
        }
    }

    fn read_only(&mut self, now_ms: u64, node: &NodeAddr) {
        // A replica (`sentinel_role: slave`) refuses writes by design: asking again would not help.
        if self.role != SentinelRole::Slave {
            self.node_failed(now_ms, node);
        }
    }

    fn waiting_for_discovery(&self) -> bool {
        self.cache.looking()
    }
}

#[derive(Debug, Clone)]
enum Stage {
    AskMaster,
    CheckRole(NodeAddr),
    AskReplicas,
}

/// Asks sentinel after sentinel until one names a node that is what the role wants. Finishes
/// with one bulk reply, the node as "host:port".
pub struct SentinelLookup {
    master: String,
    role: SentinelRole,
    sentinels: Vec<NodeAddr>,
    index: usize,
    stage: Stage,
    errors: Vec<String>,
}

impl SentinelLookup {
    pub fn new(master: &str, role: SentinelRole, sentinels: Vec<NodeAddr>) -> Self {
        Self {
            master: master.to_string(),
            role,
            sentinels,
            index: 0,
            stage: Stage::AskMaster,
            errors: Vec::new(),
        }
    }

    fn sentinel(&self) -> Option<NodeAddr> {
        self.sentinels.get(self.index).cloned()
    }

    fn ask(&mut self, stage: Stage) -> Step {
        let Some(sentinel) = self.sentinel() else {
            return Step::Done(Err(RedisError::Transport(format!(
                "no sentinel gave a usable node for {:?}: {}",
                self.master,
                self.errors.join("; ")
            ))));
        };
        let command = match &stage {
            Stage::AskReplicas => Command::new("SENTINEL")
                .arg("replicas")
                .arg(self.master.as_str()),
            _ => Command::new("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(self.master.as_str()),
        };
        self.stage = stage;
        Step::send(Target::Sentinel(sentinel), vec![command])
    }

    fn next_sentinel(&mut self, why: String) -> Step {
        if let Some(s) = self.sentinel() {
            self.errors.push(format!("{s}: {why}"));
        }
        self.index += 1;
        self.ask(Stage::AskMaster)
    }

    fn found(node: &NodeAddr) -> Step {
        Step::Done(Ok(vec![Reply::Bulk(node.to_string().into_bytes())]))
    }

    fn on_master(&mut self, reply: &Reply) -> Step {
        let Some(node) = master_addr(reply) else {
            return self.next_sentinel(format!("master unknown ({reply:?})"));
        };
        match self.role {
            SentinelRole::Slave => self.ask(Stage::AskReplicas),
            SentinelRole::Master | SentinelRole::Any => {
                self.stage = Stage::CheckRole(node.clone());
                Step::send(Target::Node(node), vec![Command::new("ROLE")])
            }
        }
    }

    fn on_role(&mut self, node: NodeAddr, reply: &Reply) -> Step {
        let role = match reply {
            Reply::Array(items) => items.first().and_then(Reply::as_bytes),
            _ => None,
        };
        if role == Some(b"master".as_slice()) {
            return Self::found(&node);
        }
        self.not_master(format!("{node} is not a master ({reply:?})"))
    }

    /// The named master is unreachable or not a master: `any` settles for a replica.
    fn not_master(&mut self, why: String) -> Step {
        if self.role == SentinelRole::Any {
            self.errors.push(why);
            return self.ask(Stage::AskReplicas);
        }
        self.next_sentinel(why)
    }

    fn on_replicas(&mut self, reply: &Reply) -> Step {
        match healthy_replicas(reply).first() {
            Some(node) => Self::found(node),
            None => self.next_sentinel("no healthy replica".into()),
        }
    }
}

impl Job for SentinelLookup {
    fn start(&mut self) -> Step {
        self.ask(Stage::AskMaster)
    }

    fn on_replies(&mut self, replies: Vec<Reply>) -> Step {
        let reply = replies.into_iter().next().unwrap_or(Reply::Nil);
        match self.stage.clone() {
            Stage::AskMaster => self.on_master(&reply),
            Stage::CheckRole(node) => self.on_role(node, &reply),
            Stage::AskReplicas => self.on_replicas(&reply),
        }
    }

    fn on_failure(&mut self, error: RedisError) -> Step {
        match self.stage.clone() {
            Stage::CheckRole(node) => self.not_master(format!("{node}: {error}")),
            _ => self.next_sentinel(error.to_string()),
        }
    }
}

/// The `[ip, port]` reply of `SENTINEL get-master-addr-by-name`.
fn master_addr(reply: &Reply) -> Option<NodeAddr> {
    let Reply::Array(items) = reply else {
        return None;
    };
    let host = std::str::from_utf8(items.first()?.as_bytes()?).ok()?;
    let port = u16::try_from(items.get(1)?.as_int()?).ok()?;
    Some(NodeAddr::new(host, port))
}

/// The replicas `SENTINEL replicas` lists as up and linked to their master, in its order.
fn healthy_replicas(reply: &Reply) -> Vec<NodeAddr> {
    let Reply::Array(replicas) = reply else {
        return Vec::new();
    };
    replicas
        .iter()
        .filter_map(|r| {
            let Reply::Array(fields) = r else {
                return None;
            };
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv.first().and_then(Reply::as_bytes) == Some(name.as_bytes()))
                    .and_then(|kv| kv.get(1))
                    .and_then(Reply::as_bytes)
                    .and_then(|v| std::str::from_utf8(v).ok())
            };
            let flags = field("flags").unwrap_or("");
            let down = ["s_down", "o_down", "disconnected"]
                .iter()
                .any(|f| flags.split(',').any(|g| g == *f));
            let linked = field("master-link-status").is_none_or(|s| s == "ok");
            if down || !linked {
                return None;
            }
            let port = field("port")?.parse().ok()?;
            Some(NodeAddr::new(field("ip")?, port))
        })
        .collect()
}

#[cfg(test)]
#[path = "sentinel_tests.rs"]
mod tests;
