//! Where each part goes, as the topology says: to a node, or parked until the layout is looked up.
//! Here the lookups are started, parked parts are let go again, and failed calls and replies such
//! as `-MOVED` are reported to the topology.

use super::affinity::Whose;
use super::jobs::{Jobs, Ticket};
use super::node_queue::NodeKey;
use crate::config::NodeAddr;
use crate::fast_hash::FastSet;
use crate::job::{Job, Outcome};
use crate::resp::{RedisError, Reply, ServerErrorKind};
use crate::shared_data::SharedData;
use crate::topology::{Kind, Route, Target, Topology};

/// Where a part went.
pub(super) enum Routed {
    /// To this node's queue.
    Node(NodeKey),
    /// Parked until a lookup that is running or due is done.
    Parked,
    /// Parked, and this lookup must start for the part's context.
    Lookup(Box<dyn Job>),
    Failed(RedisError),
}

pub(super) struct Routing {
    topology: Box<dyn Topology>,
    /// The root context that owns the multiplexer: its callbacks run the topology's lookups.
    root: u32,
    /// Parts waiting for a lookup, at most `max_parked`.
    parked: Vec<(Ticket, Target)>,
    max_parked: usize,
    /// Contexts with a lookup of their own in flight (when calls are private).
    own_lookups: FastSet<u32>,
}

impl Routing {
    pub(super) fn new(topology: Box<dyn Topology>, max_parked: usize) -> Self {
        Self {
            topology,
            root: 0,
            parked: Vec::new(),
            max_parked,
            own_lookups: FastSet::default(),
        }
    }

    pub(super) fn root(&self) -> u32 {
        self.root
    }

    pub(super) fn set_root(&mut self, root: u32) {
        self.root = root;
    }

    /// Routes `ticket`'s part, of `context`. With `own_lookup`, a part that must wait for the
    /// layout has its context run a lookup of its own, unless one runs already.
    pub(super) fn route(
        &mut self,
        store: &dyn SharedData,
        now_ms: u64,
        ticket: Ticket,
        target: &Target,
        context: u32,
        own_lookup: bool,
    ) -> Routed {
        match self.topology.resolve(store, now_ms, target) {
            Ok(Route::Node(addr, kind)) => Routed::Node((addr, kind)),
            Ok(Route::Wait) if self.parked.len() >= self.max_parked => {
                Routed::Failed(RedisError::Overloaded)
            }
            Ok(Route::Wait) => {
                self.parked.push((ticket, target.clone()));
                if own_lookup {
                    self.own_lookup(context)
                } else {
                    Routed::Parked
                }
            }
            Err(e) => Routed::Failed(e),
        }
    }

    /// A part of `context` was just parked and nobody else's lookup can wake it: its context
    /// runs one, unless it has one in flight already (the root's is the topology's own).
    fn own_lookup(&mut self, context: u32) -> Routed {
        if self.own_lookups.contains(&context) || context == self.root {
            return Routed::Parked;
        }
        match self.topology.lookup_job() {
            Some(job) => {
                self.own_lookups.insert(context);
                Routed::Lookup(job)
            }
            None => {
                self.parked.pop();
                let e = RedisError::Transport("the topology has no lookup to run".into());
                Routed::Failed(e)
            }
        }
    }

    /// The topology's lookup, when one is due and the running callback (of `whose`) is the
    /// root's to run it from.
    pub(super) fn discovery(&mut self, now_ms: u64, whose: Whose) -> Option<Box<dyn Job>> {
        if whose.admits(Some(self.root)) {
            self.topology.discovery(now_ms)
        } else {
            None
        }
    }

    /// The parked parts of `whose` to route again, once the lookup they wait for is over.
    pub(super) fn unpark(&mut self, whose: Whose, jobs: &Jobs) -> Vec<(Ticket, Target)> {
        if self.parked.is_empty() || self.lookup_running(whose) {
            return Vec::new();
        }
        let (mine, others) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(ticket, _)| whose.admits(jobs.context(ticket.job())));
        self.parked = others;
        mine
    }

    /// Whether the lookup the parked parts of `whose` wait for is running: the topology's, or
    /// a context's own.
    fn lookup_running(&self, whose: Whose) -> bool {
        match whose {
            Whose::Only(context) if context != self.root => self.own_lookups.contains(&context),
            _ => self.topology.waiting_for_discovery(),
        }
    }

    /// Takes out the parked parts of `whose` whose job's deadline passed (and those whose job
    /// is gone): the jobs to time out.
    pub(super) fn expire_parked(&mut self, now_ms: u64, whose: Whose, jobs: &Jobs) -> Vec<u64> {
        let mut expired = Vec::new();
        self.parked.retain(|(ticket, _)| {
            let id = ticket.job();
            let Some(context) = jobs.context(id) else {
                return false;
            };
            let late = jobs.past_deadline(id, now_ms) && whose.admits(Some(context));
            if late {
                expired.push(id);
            }
            !late
        });
        expired
    }

    /// A lookup `context` ran finished with `outcome`.
    pub(super) fn lookup_done(
        &mut self,
        store: &dyn SharedData,
        now_ms: u64,
        context: u32,
        outcome: Outcome,
    ) {
        self.own_lookups.remove(&context);
        self.topology.discovered(store, now_ms, outcome);
    }

    /// `context` went away: its own lookup, if any, is nobody's now.
    pub(super) fn forget(&mut self, context: u32) {
        self.own_lookups.remove(&context);
    }

    /// A call to `node` failed on the way (or its breaker is open).
    pub(super) fn node_failed(&mut self, now_ms: u64, node: &NodeKey) {
        if node.1 == Kind::Data {
            self.topology.node_failed(now_ms, &node.0);
        }
    }

    /// What `node`'s replies say about the layout: a slot moved, a master was demoted.
    pub(super) fn learn(&mut self, now_ms: u64, node: &NodeKey, replies: &[Reply]) {
        for e in replies.iter().filter_map(Reply::error) {
            match &e.kind {
                ServerErrorKind::Moved { slot, addr } => {
                    if let Some(to) = NodeAddr::parse(addr) {
                        self.topology.moved(now_ms, *slot, &to);
                    }
                }
                ServerErrorKind::ReadOnly if node.1 == Kind::Data => {
                    self.topology.read_only(now_ms, &node.0);
                }
                _ => {}
            }
        }
    }
}
