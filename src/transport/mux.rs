//! The per-worker multiplexer owned by a filter's root context. A job's commands go out at once
//! when no call to their node is in flight; jobs that arrive meanwhile wait and leave together as
//! one pipeline when the call in flight returns. Each reply goes back to its job; finished jobs
//! are handed to the caller, which resumes their HTTP contexts. The topology says which node each
//! part of a job goes to; while it must look the layout up (Sentinel, `CLUSTER SLOTS`), parts
//! wait, and the lookup runs here as a job of its own. Host-agnostic: the host is a
//! `Dispatcher`, time is passed in.

use super::{Backoff, CallResponse, Framing, TlsAsk};
use crate::config::{NodeAddr, RedisConfig};
use crate::fast_hash::{FastMap, FastSet};
use crate::job::{Job, Outcome, Part, Step};
use crate::resp::{Command, RedisError, Reply, ServerErrorKind};
use crate::shared_data::SharedData;
use crate::topology::{Kind, Route, Target, Topology};
use std::collections::VecDeque;

/// Whether one context's callback may send calls for, and resume, another context. A host
/// capability, learnt at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Affinity {
    /// Envoy: any callback may resume any request, so the requests of a worker share calls (a
    /// queue per node, one call in flight, the queue leaves as one pipeline when it returns).
    #[default]
    Shared,
    /// Kong's engine (ngx_wasm_module): `proxy_set_effective_context` does nothing and a call
    /// belongs to the request whose callback dispatched it, so a context's commands leave only
    /// in calls it dispatches itself, from its own callbacks, and it hears their answers in its
    /// own `on_http_call_response`. Calls to a node are not batched across requests (the
    /// host-side bridge pools the Redis connections instead).
    PerContext,
}

/// How the multiplexer reaches the host: calls, and the shared data where lookups are cached.
pub trait Dispatcher: SharedData {
    /// The context whose callback is running: the only one whose work may be sent now when
    /// the affinity is `PerContext`.
    fn current_context(&self) -> u32;

    /// Whether a call may be dispatched from the running callback. When it may not, the work
    /// waits in its node's queue for the owner's next `on_tick`.
    fn can_dispatch(&self) -> bool {
        true
    }

    /// Sends one pipeline body to `node` through `upstream` (over TLS when `tls` asks); returns
    /// the call's token.
    fn dispatch(
        &mut self,
        upstream: &str,
        node: &NodeAddr,
        body: Vec<u8>,
        timeout_ms: u32,
        tls: Option<&TlsAsk>,
    ) -> Result<u32, String>;
}

#[derive(Debug, Clone)]
pub struct MuxConfig {
    pub upstream: String,
    /// A job waits at most this long, queued or in flight.
    pub timeout_ms: u32,
    /// Jobs waiting per node beyond this are refused at once (`Overloaded`).
    pub max_queue: usize,
    /// Commands per call; more wait for the next call.
    pub max_batch: usize,
    pub failure_threshold: u32,
    pub backoff_ms: u64,
    /// TLS asked of the tunnel for every call (data nodes and sentinels alike).
    pub tls: Option<TlsAsk>,
}

impl MuxConfig {
    pub fn from_redis(config: &RedisConfig) -> Self {
        Self {
            upstream: config.tunnel.clone(),
            timeout_ms: config.call_timeout_ms(),
            max_queue: 4096,
            max_batch: 1024,
            failure_threshold: 3,
            backoff_ms: 1000,
            tls: TlsAsk::from_config(config),
        }
    }
}

/// Who is waiting for a job: the HTTP context to resume, and a tag the filter chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Waiter {
    pub context_id: u32,
    pub tag: u32,
}

#[derive(Debug)]
pub struct Finished {
    pub waiter: Waiter,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Submitted {
    /// Sent or queued: the outcome comes back later from `on_response` / `on_tick`.
    Pending,
    /// Finished at once (nothing to send, or refused).
    Done(Outcome),
}

/// Counters for metrics, benchmarks and the batching tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MuxStats {
    pub jobs: u64,
    pub calls: u64,
    pub commands: u64,
    pub failed_calls: u64,
    /// Topology lookups started (Sentinel, `CLUSTER SLOTS`).
    pub lookups: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Http(Waiter),
    /// The topology's own lookup.
    Topology,
}

struct PartState {
    /// Its commands, until they are sent.
    commands: Vec<Command>,
    replies: Option<Vec<Reply>>,
}

struct Entry {
    owner: Owner,
    /// The context whose callbacks send this job's calls (`PerContext`).
    context: u32,
    job: Box<dyn Job>,
    deadline_ms: u64,
    /// Which step the job is at: queued or in-flight parts of an earlier step are ignored.
    step: u32,
    parts: Vec<PartState>,
}

/// One part of one step of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    id: u64,
    step: u32,
    part: usize,
}

type NodeKey = (NodeAddr, Kind);

struct Call {
    node: NodeKey,
    /// The context that dispatched it.
    context: u32,
    tickets: Vec<(Ticket, usize)>,
    deadline_ms: u64,
}

struct Node {
    in_flight: Option<u32>,
    queue: VecDeque<Ticket>,
    backoff: Backoff,
}

pub struct Mux {
    config: MuxConfig,
    affinity: Affinity,
    /// The root context that owns this multiplexer (its lookups and background work).
    root: u32,
    /// Contexts with a lookup of their own in flight (`PerContext`).
    own_lookups: FastSet<u32>,
    framing: Framing,
    sentinel_framing: Framing,
    topology: Box<dyn Topology>,
    entries: FastMap<u64, Entry>,
    nodes: FastMap<NodeKey, Node>,
    calls: FastMap<u32, Call>,
    /// Parts waiting for the topology's lookup.
    parked: Vec<(Ticket, Target)>,
    finished: Vec<Finished>,
    /// While above 0, parts being routed are queued without being sent: their nodes wait in
    /// `held` and are pumped once every part of the step is queued, so a step leaves as one
    /// call per node (with `PerContext` nothing else would batch its parts).
    holding: u32,
    held: Vec<NodeKey>,
    next_id: u64,
    stats: MuxStats,
}

/// Grace beyond the timeout for a host that never answers a call (e.g. it cancelled it).
const LOST_CALL_GRACE_MS: u64 = 1000;

impl Mux {
    pub fn new(config: MuxConfig, framing: Framing, topology: Box<dyn Topology>) -> Self {
        Self {
            config,
            affinity: Affinity::Shared,
            root: 0,
            own_lookups: FastSet::default(),
            framing,
            sentinel_framing: Framing::bare(),
            topology,
            entries: FastMap::default(),
            nodes: FastMap::default(),
            calls: FastMap::default(),
            parked: Vec::new(),
            finished: Vec::new(),
            holding: 0,
            held: Vec::new(),
            next_id: 1,
            stats: MuxStats::default(),
        }
    }

    /// How calls to sentinels open (their own credentials).
    pub fn with_sentinel_framing(mut self, framing: Framing) -> Self {
        self.sentinel_framing = framing;
        self
    }

    /// The root context that owns this multiplexer.
    pub fn with_root(mut self, root: u32) -> Self {
        self.root = root;
        self
    }

    pub fn affinity(&self) -> Affinity {
        self.affinity
    }

    /// The host's affinity, once known (before the first request's work, as a rule).
    pub fn set_affinity(&mut self, affinity: Affinity) {
        self.affinity = affinity;
    }

    pub fn stats(&self) -> &MuxStats {
        &self.stats
    }

    /// Calls in flight (what an expired or cancelled call leaves behind must be nothing).
    pub fn calls_in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Jobs not finished yet.
    pub fn jobs_pending(&self) -> usize {
        self.entries.len()
    }

    /// The context whose callback dispatched call `token`, if it is one of ours.
    pub fn call_context(&self, token: u32) -> Option<u32> {
        self.calls.get(&token).map(|c| c.context)
    }

    /// Holds every call back until `release`: the jobs submitted meanwhile (by several
    /// filters of one `redis-chain`, in one callback) leave together, one pipeline per node.
    pub fn hold(&mut self) {
        self.holding += 1;
    }

    /// Ends a `hold`: what waits for each node leaves as one call (unless a call to it is in
    /// flight, as ever).
    pub fn release(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        self.holding = self.holding.saturating_sub(1);
        if self.holding == 0 {
            for node in std::mem::take(&mut self.held) {
                self.pump(host, now_ms, &node);
            }
        }
    }

    /// Jobs that finished during the last calls, for the caller to deliver.
    pub fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.finished)
    }

    pub fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Starts a job. Its own outcome is returned at once if it finished without a call.
    pub fn submit(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        waiter: Waiter,
        job: Box<dyn Job>,
    ) -> Submitted {
        self.stats.jobs += 1;
        self.start(host, now_ms, Owner::Http(waiter), waiter.context_id, job);
        self.settle(host, now_ms);
        match self.finished.iter().position(|f| f.waiter == waiter) {
            Some(i) => Submitted::Done(self.finished.swap_remove(i).outcome),
            None => Submitted::Pending,
        }
    }

    /// A call came back. Unknown tokens (late answers of expired calls) are ignored.
    pub fn on_response(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        token: u32,
        response: &CallResponse,
    ) {
        let Some(call) = self.calls.remove(&token) else {
            return;
        };
        let total = call.tickets.iter().map(|(_, n)| n).sum();
        let result = self.framing(call.node.1).replies(response, total);
        if let Some(node) = self.nodes.get_mut(&call.node) {
            if node.in_flight == Some(token) {
                node.in_flight = None;
            }
            match &result {
                Ok(_) | Err(RedisError::Server(_)) => node.backoff.success(),
                Err(_) => node.backoff.failure(now_ms),
            }
        }
        match result {
            Ok(replies) => self.deliver(host, now_ms, &call.node, call.tickets, replies),
            Err(e) => {
                self.stats.failed_calls += 1;
                if !matches!(e, RedisError::Server(_)) && call.node.1 == Kind::Data {
                    self.topology.node_failed(now_ms, &call.node.0);
                }
                for (ticket, _) in call.tickets {
                    self.fail(host, now_ms, ticket, e.clone());
                }
            }
        }
        self.pump(host, now_ms, &call.node);
        self.settle(host, now_ms);
    }

    /// Expires jobs past their deadline and calls the host never answered, and runs a lookup
    /// that is due. Call it from on_tick.
    /// With `PerContext` only the work of the context whose callback runs (the root's) is
    /// expired here: another request hears of its calls from the host, which always answers
    /// them (a timeout included), or goes away (`cancel`).
    pub fn on_tick(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        let current = host.current_context();
        let shared = self.affinity == Affinity::Shared;
        let lost: Vec<u32> = self
            .calls
            .iter()
            .filter(|(_, c)| now_ms > c.deadline_ms + LOST_CALL_GRACE_MS)
            .filter(|(_, c)| shared || c.context == current)
            .map(|(t, _)| *t)
            .collect();
        for token in lost {
            let lost = CallResponse {
                failure: Some("timeout: no answer from the host".into()),
                ..CallResponse::default()
            };
            self.on_response(host, now_ms, token, &lost);
        }
        let nodes: Vec<NodeKey> = self.nodes.keys().cloned().collect();
        for node in nodes {
            if shared {
                self.expire_queue(host, now_ms, &node);
            } else {
                // What the root could not send from a callback that may not dispatch.
                self.pump(host, now_ms, &node);
            }
        }
        let parked = std::mem::take(&mut self.parked);
        for (ticket, target) in parked {
            match self.entries.get(&ticket.id) {
                Some(e) if e.deadline_ms <= now_ms && (shared || e.context == current) => {
                    self.finish(host, now_ms, ticket.id, Err(RedisError::Timeout))
                }
                Some(_) => self.parked.push((ticket, target)),
                None => {}
            }
        }
        self.settle(host, now_ms);
    }

    /// The HTTP context went away: its queued jobs are dropped; replies to its jobs in flight
    /// are read and discarded so the other jobs of the same call are not disturbed.
    /// With `PerContext` its calls and lookups go too: nobody else reads their answers.
    pub fn cancel(&mut self, context_id: u32) {
        let per_context = self.affinity == Affinity::PerContext;
        self.entries.retain(|_, e| match e.owner {
            Owner::Http(w) => w.context_id != context_id,
            Owner::Topology => !(per_context && e.context == context_id),
        });
        self.finished.retain(|f| f.waiter.context_id != context_id);
        if per_context {
            self.calls.retain(|_, c| c.context != context_id);
            self.own_lookups.remove(&context_id);
        }
    }

    fn start(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        owner: Owner,
        context: u32,
        mut job: Box<dyn Job>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let step = job.start();
        let entry = Entry {
            owner,
            context,
            job,
            deadline_ms: now_ms + u64::from(self.config.timeout_ms),
            step: 0,
            parts: Vec::new(),
        };
        self.entries.insert(id, entry);
        self.advance(host, now_ms, id, step);
    }

    /// Starts the topology's lookup when one is due, and routes parked parts again once no
    /// lookup is running (it finished, or none could start).
    fn settle(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        if self.affinity == Affinity::PerContext {
            return self.settle_own(host, now_ms);
        }
        for _ in 0..3 {
            if let Some(job) = self.topology.discovery(now_ms) {
                self.stats.lookups += 1;
                self.start(host, now_ms, Owner::Topology, self.root, job);
            }
            if self.parked.is_empty() || self.topology.waiting_for_discovery() {
                return;
            }
            let parked = std::mem::take(&mut self.parked);
            self.route_all(host, now_ms, parked);
        }
    }

    /// `settle` for `PerContext`: the root's callbacks run the topology's own lookups; a
    /// context routes again only its own parked parts, once no lookup of its own is running.
    fn settle_own(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        let current = host.current_context();
        for _ in 0..3 {
            if current == self.root {
                if let Some(job) = self.topology.discovery(now_ms) {
                    self.stats.lookups += 1;
                    self.start(host, now_ms, Owner::Topology, current, job);
                }
            }
            let waiting = if current == self.root {
                self.topology.waiting_for_discovery()
            } else {
                self.own_lookups.contains(&current)
            };
            if waiting {
                return;
            }
            let entries = &self.entries;
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|(t, _)| entries.get(&t.id).is_some_and(|e| e.context == current));
            self.parked = others;
            if mine.is_empty() {
                return;
            }
            self.route_all(host, now_ms, mine);
        }
    }

    /// A part of `context` must wait for a lookup (`PerContext`): nobody else's lookup can
    /// wake it, so it runs one of its own unless it has one in flight already. False if the
    /// topology has no lookup to offer.
    fn own_lookup(&mut self, host: &mut dyn Dispatcher, now_ms: u64, context: u32) -> bool {
        if self.own_lookups.contains(&context) {
            return true;
        }
        if context == self.root {
            return true; // the root's settle starts the topology's own lookup
        }
        let Some(job) = self.topology.lookup_job() else {
            return false;
        };
        self.stats.lookups += 1;
        self.own_lookups.insert(context);
        self.start(host, now_ms, Owner::Topology, context, job);
        true
    }

    /// How calls to a node of this kind open and close.
    fn framing(&self, kind: Kind) -> &Framing {
        match kind {
            Kind::Data => &self.framing,
            Kind::Sentinel => &self.sentinel_framing,
        }
    }

    fn current(&self, ticket: Ticket) -> bool {
        self.entries
            .get(&ticket.id)
            .is_some_and(|e| e.step == ticket.step)
    }

    /// Replies for one part of a job; once every part of its step has them, the job goes on.
    fn deliver(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        node: &NodeKey,
        tickets: Vec<(Ticket, usize)>,
        replies: Vec<Reply>,
    ) {
        self.learn(now_ms, node, &replies);
        let mut replies = replies.into_iter();
        for (ticket, n) in tickets {
            let part: Vec<Reply> = replies.by_ref().take(n).collect();
            if !self.current(ticket) {
                continue;
            }
            let Some(entry) = self.entries.get_mut(&ticket.id) else {
                continue;
            };
            if let Some(p) = entry.parts.get_mut(ticket.part) {
                p.replies = Some(part);
            }
            if entry.parts.iter().all(|p| p.replies.is_some()) {
                let all = entry
                    .parts
                    .iter_mut()
                    .flat_map(|p| p.replies.take().unwrap_or_default())
                    .collect();
                let step = entry.job.on_replies(all);
                self.advance(host, now_ms, ticket.id, step);
            }
        }
    }

    /// What replies say about the topology: a slot moved, a master was demoted.
    fn learn(&mut self, now_ms: u64, node: &NodeKey, replies: &[Reply]) {
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

    /// Takes a job's next step: finish it, or route each of its parts.
    fn advance(&mut self, host: &mut dyn Dispatcher, now_ms: u64, id: u64, step: Step) {
        let parts = match step {
            Step::Done(outcome) => return self.finish(host, now_ms, id, outcome),
            Step::Send(parts) => parts,
        };
        let timeout = u64::from(self.config.timeout_ms);
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.step += 1;
        if entry.owner == Owner::Topology {
            // A lookup may ask several nodes in turn: each step gets the full timeout.
            entry.deadline_ms = now_ms + timeout;
        }
        let step = entry.step;
        let mut targets = Vec::with_capacity(parts.len());
        entry.parts = parts
            .into_iter()
            .map(|Part { target, commands }| {
                targets.push(target);
                PartState {
                    commands,
                    replies: None,
                }
            })
            .collect();
        if targets.is_empty() {
            return self.fail(
                host,
                now_ms,
                Ticket { id, step, part: 0 },
                RedisError::Protocol("empty step".into()),
            );
        }
        let parts = targets
            .into_iter()
            .enumerate()
            .map(|(part, target)| (Ticket { id, step, part }, target))
            .collect();
        self.route_all(host, now_ms, parts);
    }

    /// Routes parts together: each node they go to is pumped once they are all queued.
    fn route_all(&mut self, host: &mut dyn Dispatcher, now_ms: u64, parts: Vec<(Ticket, Target)>) {
        self.hold();
        for (ticket, target) in parts {
            self.route(host, now_ms, ticket, &target);
        }
        self.release(host, now_ms);
    }

    /// Queues a part on the node the topology names, or parks it until the lookup is done.
    fn route(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, target: &Target) {
        if !self.current(ticket) {
            return;
        }
        match self.topology.resolve(&*host, now_ms, target) {
            Ok(Route::Node(addr, kind)) => self.enqueue(host, now_ms, ticket, (addr, kind)),
            Ok(Route::Wait) if self.parked.len() >= self.config.max_queue => {
                self.fail(host, now_ms, ticket, RedisError::Overloaded)
            }
            Ok(Route::Wait) if self.affinity == Affinity::PerContext => {
                let context = self.entries.get(&ticket.id).map_or(0, |e| e.context);
                self.parked.push((ticket, target.clone()));
                if !self.own_lookup(host, now_ms, context) {
                    self.parked.pop();
                    let e = RedisError::Transport("the topology has no lookup to run".into());
                    self.fail(host, now_ms, ticket, e);
                }
            }
            Ok(Route::Wait) => self.parked.push((ticket, target.clone())),
            Err(e) => self.fail(host, now_ms, ticket, e),
        }
    }

    fn enqueue(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, node: NodeKey) {
        let state = self.nodes.entry(node.clone()).or_insert_with(|| Node {
            in_flight: None,
            queue: VecDeque::new(),
            backoff: Backoff::new(self.config.failure_threshold, self.config.backoff_ms),
        });
        if !state.backoff.allows(now_ms) {
            // Still down as far as we know: the topology may know better by now (a failover).
            if node.1 == Kind::Data {
                self.topology.node_failed(now_ms, &node.0);
            }
            return self.fail(host, now_ms, ticket, RedisError::Unavailable);
        }
        if state.queue.len() >= self.config.max_queue {
            return self.fail(host, now_ms, ticket, RedisError::Overloaded);
        }
        state.queue.push_back(ticket);
        if self.holding == 0 {
            self.pump(host, now_ms, &node);
        } else if !self.held.contains(&node) {
            self.held.push(node);
        }
    }

    /// A part failed: the job hears it once for its current step (a lookup tries another
    /// node; a pipeline gives up), and its other parts of that step are ignored.
    fn fail(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, error: RedisError) {
        if !self.current(ticket) {
            return;
        }
        let Some(entry) = self.entries.get_mut(&ticket.id) else {
            return;
        };
        entry.step += 1;
        let step = entry.job.on_failure(error);
        self.advance(host, now_ms, ticket.id, step);
    }

    /// Sends what waits for `node` as one call, unless a call to it is in flight.
    fn pump(&mut self, host: &mut dyn Dispatcher, now_ms: u64, node: &NodeKey) {
        let current = host.current_context();
        loop {
            let (tickets, commands) = match self.affinity {
                Affinity::Shared => {
                    self.expire_front(host, now_ms, node);
                    self.take_batch(node)
                }
                Affinity::PerContext if !host.can_dispatch() => return,
                Affinity::PerContext => self.take_own_batch(node, current),
            };
            if tickets.is_empty() {
                return;
            }
            let body = self.framing(node.1).body(&commands);
            let timeout = self.config.timeout_ms;
            let tls = self.config.tls.as_ref();
            let sent = host.dispatch(&self.config.upstream, &node.0, body, timeout, tls);
            let Some(state) = self.nodes.get_mut(node) else {
                return;
            };
            match sent {
                Ok(token) => {
                    self.stats.calls += 1;
                    self.stats.commands += commands.len() as u64;
                    let call = Call {
                        node: node.clone(),
                        context: current,
                        tickets,
                        deadline_ms: now_ms + u64::from(timeout),
                    };
                    self.calls.insert(token, call);
                    if self.affinity == Affinity::Shared {
                        state.in_flight = Some(token);
                        return;
                    }
                }
                Err(reason) => {
                    state.backoff.failure(now_ms);
                    self.stats.failed_calls += 1;
                    let e = RedisError::Transport(format!("dispatch refused: {reason}"));
                    for (ticket, _) in tickets {
                        self.fail(host, now_ms, ticket, e.clone());
                    }
                }
            }
        }
    }

    /// The parts that leave in the next call to `node` (none while a call is in flight), with
    /// their commands in order.
    fn take_batch(&mut self, node: &NodeKey) -> (Vec<(Ticket, usize)>, Vec<Command>) {
        let mut tickets = Vec::new();
        let mut commands: Vec<Command> = Vec::new();
        let Some(state) = self.nodes.get_mut(node) else {
            return (tickets, commands);
        };
        if state.in_flight.is_some() {
            return (tickets, commands);
        }
        while let Some(ticket) = state.queue.front().copied() {
            let part = self
                .entries
                .get_mut(&ticket.id)
                .filter(|e| e.step == ticket.step)
                .and_then(|e| e.parts.get_mut(ticket.part));
            let Some(part) = part else {
                state.queue.pop_front(); // cancelled, or its step is over
                continue;
            };
            if !tickets.is_empty() && commands.len() + part.commands.len() > self.config.max_batch {
                break;
            }
            state.queue.pop_front();
            tickets.push((ticket, part.commands.len()));
            commands.append(&mut part.commands);
        }
        (tickets, commands)
    }

    /// `take_batch` for `PerContext`: the parts of `context` only, whatever is in flight; the
    /// others stay queued, in order, for their own context's callbacks.
    fn take_own_batch(
        &mut self,
        node: &NodeKey,
        context: u32,
    ) -> (Vec<(Ticket, usize)>, Vec<Command>) {
        let mut tickets = Vec::new();
        let mut commands: Vec<Command> = Vec::new();
        let Some(state) = self.nodes.get_mut(node) else {
            return (tickets, commands);
        };
        let mut rest = VecDeque::new();
        while let Some(ticket) = state.queue.pop_front() {
            let Some(entry) = self
                .entries
                .get_mut(&ticket.id)
                .filter(|e| e.step == ticket.step)
            else {
                continue; // cancelled, or its step is over
            };
            let Some(part) = entry.parts.get_mut(ticket.part) else {
                continue;
            };
            let full =
                !tickets.is_empty() && commands.len() + part.commands.len() > self.config.max_batch;
            if entry.context != context || full {
                rest.push_back(ticket);
                continue;
            }
            tickets.push((ticket, part.commands.len()));
            commands.append(&mut part.commands);
        }
        state.queue = rest;
        (tickets, commands)
    }

    /// Fails the parts at the front of `node`'s queue whose job's deadline passed (queues are
    /// mostly in deadline order; `expire_queue` sweeps the rest from on_tick).
    fn expire_front(&mut self, host: &mut dyn Dispatcher, now_ms: u64, node: &NodeKey) {
        while let Some(state) = self.nodes.get_mut(node) {
            let Some(ticket) = state.queue.front().copied() else {
                return;
            };
            match self.entries.get(&ticket.id) {
                Some(e) if e.deadline_ms > now_ms && e.step == ticket.step => return,
                Some(e) if e.step == ticket.step => {
                    state.queue.pop_front();
                    self.finish(host, now_ms, ticket.id, Err(RedisError::Timeout));
                }
                _ => {
                    state.queue.pop_front();
                }
            }
        }
    }

    /// Fails every job with a part queued for `node` whose deadline passed.
    fn expire_queue(&mut self, host: &mut dyn Dispatcher, now_ms: u64, node: &NodeKey) {
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        let entries = &self.entries;
        let mut expired = Vec::new();
        state.queue.retain(|t| match entries.get(&t.id) {
            Some(e) if e.step != t.step => false,
            Some(e) if e.deadline_ms <= now_ms => {
                expired.push(t.id);
                false
            }
            Some(_) => true,
            None => false,
        });
        for id in expired {
            self.finish(host, now_ms, id, Err(RedisError::Timeout));
        }
    }

    fn finish(&mut self, host: &mut dyn Dispatcher, now_ms: u64, id: u64, outcome: Outcome) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        match entry.owner {
            Owner::Http(waiter) => self.finished.push(Finished { waiter, outcome }),
            Owner::Topology => {
                self.own_lookups.remove(&entry.context);
                self.topology.discovered(&*host, now_ms, outcome)
            }
        }
    }
}

#[cfg(test)]
#[path = "mux_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "mux_topology_tests.rs"]
mod topology_tests;

#[cfg(test)]
#[path = "mux_affinity_tests.rs"]
mod affinity_tests;
