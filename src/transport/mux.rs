//! The per-worker multiplexer a filter's root owns: it takes jobs in and carries each one from
//! step to step through the parts beside it (routing, node queues, calls), then hands finished
//! jobs back for their HTTP contexts to resume. Host-agnostic: the host is a `Dispatcher`, its
//! affinity a `Policy`, and time is passed in.

use super::affinity::{Affinity, Policy};
use super::calls::Calls;
use super::jobs::{Jobs, Owner, Ticket, Waiter};
use super::node_queue::{NodeKey, NodeQueues, Queued};
use super::routing::{Routed, Routing};
use super::{Backoff, CallResponse, Dispatcher, Framing, MuxConfig};
use crate::job::{Job, Outcome, Step};
use crate::resp::RedisError;
use crate::topology::{Target, Topology};

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

pub struct Mux {
    policy: &'static dyn Policy,
    jobs: Jobs,
    routing: Routing,
    queues: NodeQueues,
    calls: Calls,
    finished: Vec<Finished>,
    stats: MuxStats,
}

impl Mux {
    pub fn new(config: MuxConfig, framing: Framing, topology: Box<dyn Topology>) -> Self {
        let breaker = Backoff::new(config.failure_threshold, config.backoff_ms);
        Self {
            policy: Affinity::default().policy(),
            jobs: Jobs::new(config.timeout_ms),
            routing: Routing::new(topology, config.max_queue),
            queues: NodeQueues::new(config.max_queue, config.max_batch, breaker),
            calls: Calls::new(config.upstream, config.timeout_ms, config.tls, framing),
            finished: Vec::new(),
            stats: MuxStats::default(),
        }
    }

    /// How calls to sentinels open (their own credentials).
    pub fn with_sentinel_framing(mut self, framing: Framing) -> Self {
        self.calls.set_sentinel_framing(framing);
        self
    }

    /// The root context that owns this multiplexer.
    pub fn with_root(mut self, root: u32) -> Self {
        self.routing.set_root(root);
        self
    }

    pub fn affinity(&self) -> Affinity {
        self.policy.affinity()
    }

    /// The host's affinity, once known (before the first request's work, as a rule).
    pub fn set_affinity(&mut self, affinity: Affinity) {
        self.policy = affinity.policy();
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
        self.jobs.len()
    }

    /// Whether a job of context `context_id` (a root's own, say) is under way.
    pub fn waits_for(&self, context_id: u32) -> bool {
        self.jobs.waits_for(context_id)
    }

    /// The context whose callback dispatched call `token`, if it is one of ours.
    pub fn call_context(&self, token: u32) -> Option<u32> {
        self.calls.context(token)
    }

    /// Holds every call back until `release`: the jobs submitted meanwhile (by several
    /// filters of one `redis-chain`, in one callback) leave together, one pipeline per node.
    pub fn hold(&mut self) {
        self.queues.hold();
    }

    /// Ends a `hold`: what waits for each node leaves as one call (unless a call to it is in
    /// flight, as ever).
    pub fn release(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        for node in self.queues.release() {
            self.pump(host, now_ms, &node);
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
        let Some((call, result)) = self.calls.answer(token, response) else {
            return;
        };
        let healthy = matches!(result, Ok(_) | Err(RedisError::Server(_)));
        self.queues.returned(&call.node, token, healthy, now_ms);
        match result {
            Ok(replies) => {
                self.routing.learn(now_ms, &call.node, &replies);
                let mut replies = replies.into_iter();
                for (ticket, n) in call.tickets {
                    let part = replies.by_ref().take(n).collect();
                    if let Some(step) = self.jobs.replied(ticket, part) {
                        self.advance(host, now_ms, ticket.job(), step);
                    }
                }
            }
            Err(e) => {
                self.stats.failed_calls += 1;
                if !healthy {
                    self.routing.node_failed(now_ms, &call.node);
                }
                for (ticket, _) in call.tickets {
                    self.fail(host, now_ms, ticket, e.clone());
                }
            }
        }
        self.pump(host, now_ms, &call.node);
        self.settle(host, now_ms);
    }

    /// Gives up on calls the host never answered and on work past its deadline, sends what
    /// waited for a callback that may send, and runs a lookup that is due. Call it from
    /// on_tick. Only the work the policy lets the running callback take up is touched: with
    /// `PerContext`, another request hears of its calls from the host, which always answers
    /// them (a timeout included), or goes away (`cancel`).
    pub fn on_tick(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        let whose = self.policy.whose(host.current_context());
        for token in self.calls.lost(now_ms, whose) {
            let lost = CallResponse {
                failure: Some("timeout: no answer from the host".into()),
                ..CallResponse::default()
            };
            self.on_response(host, now_ms, token, &lost);
        }
        for node in self.queues.nodes() {
            if self.policy.one_call_per_node() {
                let late = self.queues.expire_all(&node, &self.jobs, now_ms);
                self.time_out(host, now_ms, late);
            } else {
                self.pump(host, now_ms, &node);
            }
        }
        let late = self.routing.expire_parked(now_ms, whose, &self.jobs);
        self.time_out(host, now_ms, late);
        self.settle(host, now_ms);
    }

    /// The HTTP context went away: its queued jobs are dropped; replies to its jobs in flight
    /// are read and discarded so the other jobs of the same call are not disturbed. When calls
    /// are private to their context, its calls and lookups go too: nobody else reads them.
    pub fn cancel(&mut self, context_id: u32) {
        let private = self.policy.calls_are_private();
        self.jobs.cancel(context_id, private);
        self.finished.retain(|f| f.waiter.context_id != context_id);
        if private {
            self.calls.forget(context_id);
            self.routing.forget(context_id);
        }
    }

    fn start(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        owner: Owner,
        context: u32,
        job: Box<dyn Job>,
    ) {
        let (id, step) = self.jobs.start(now_ms, owner, context, job);
        self.advance(host, now_ms, id, step);
    }

    /// Starts the topology's lookup when one is due, and routes again the parked parts the
    /// running callback takes up once the lookup they wait for is over.
    fn settle(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        let whose = self.policy.whose(host.current_context());
        for _ in 0..3 {
            if let Some(job) = self.routing.discovery(now_ms, whose) {
                self.stats.lookups += 1;
                let root = self.routing.root();
                self.start(host, now_ms, Owner::Topology, root, job);
            }
            let parts = self.routing.unpark(whose, &self.jobs);
            if parts.is_empty() {
                return;
            }
            self.route_all(host, now_ms, parts);
        }
    }

    /// Takes a job's next step: finish it, or route each of its parts.
    fn advance(&mut self, host: &mut dyn Dispatcher, now_ms: u64, id: u64, step: Step) {
        let parts = match step {
            Step::Done(outcome) => return self.finish(host, now_ms, id, outcome),
            Step::Send(parts) => parts,
        };
        match self.jobs.enter_step(now_ms, id, parts) {
            Some(parts) if parts.is_empty() => {
                let e = RedisError::Protocol("empty step".into());
                if let Some(step) = self.jobs.step_failed(id, e) {
                    self.advance(host, now_ms, id, step);
                }
            }
            Some(parts) => self.route_all(host, now_ms, parts),
            None => {}
        }
    }

    /// Routes parts together: each node they go to is pumped once they are all queued.
    fn route_all(&mut self, host: &mut dyn Dispatcher, now_ms: u64, parts: Vec<(Ticket, Target)>) {
        self.hold();
        for (ticket, target) in parts {
            self.route(host, now_ms, ticket, &target);
        }
        self.release(host, now_ms);
    }

    /// Queues a part on the node the topology names, or parks it until a lookup is done.
    fn route(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, target: &Target) {
        if !self.jobs.is_current(ticket) {
            return;
        }
        let context = self.jobs.context(ticket.job()).unwrap_or_default();
        let own_lookup = self.policy.calls_are_private();
        match self
            .routing
            .route(&*host, now_ms, ticket, target, context, own_lookup)
        {
            Routed::Node(node) => self.enqueue(host, now_ms, ticket, node),
            Routed::Parked => {}
            Routed::Lookup(job) => {
                self.stats.lookups += 1;
                self.start(host, now_ms, Owner::Topology, context, job);
            }
            Routed::Failed(e) => self.fail(host, now_ms, ticket, e),
        }
    }

    fn enqueue(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, node: NodeKey) {
        match self.queues.push(now_ms, ticket, &node) {
            Queued::Ready => self.pump(host, now_ms, &node),
            Queued::Held => {}
            Queued::Down => {
                // Still down as far as we know: the topology may know better by now (a failover).
                self.routing.node_failed(now_ms, &node);
                self.fail(host, now_ms, ticket, RedisError::Unavailable);
            }
            Queued::Full => self.fail(host, now_ms, ticket, RedisError::Overloaded),
        }
    }

    /// Sends what waits for `node` and the running callback may take up, in as many calls as
    /// the policy allows now.
    fn pump(&mut self, host: &mut dyn Dispatcher, now_ms: u64, node: &NodeKey) {
        let whose = self.policy.whose(host.current_context());
        let one_call = self.policy.one_call_per_node();
        while self.policy.may_send(&*host) {
            if one_call {
                let late = self.queues.expire_front(node, &self.jobs, now_ms);
                self.time_out(host, now_ms, late);
            }
            let batch = self.queues.take_batch(node, &mut self.jobs, whose);
            if batch.tickets.is_empty() {
                return;
            }
            let commands = batch.commands.len() as u64;
            match self.calls.send(host, now_ms, node, batch) {
                Ok(token) => {
                    self.stats.calls += 1;
                    self.stats.commands += commands;
                    if one_call {
                        self.queues.busy(node, token);
                        return;
                    }
                }
                Err((reason, tickets)) => {
                    self.queues.refused(node, now_ms);
                    self.stats.failed_calls += 1;
                    let e = RedisError::Transport(format!("dispatch refused: {reason}"));
                    for (ticket, _) in tickets {
                        self.fail(host, now_ms, ticket, e.clone());
                    }
                }
            }
        }
    }

    /// A part failed: its job hears it, unless the ticket is stale.
    fn fail(&mut self, host: &mut dyn Dispatcher, now_ms: u64, ticket: Ticket, error: RedisError) {
        if let Some(step) = self.jobs.failed(ticket, error) {
            self.advance(host, now_ms, ticket.job(), step);
        }
    }

    fn time_out(&mut self, host: &mut dyn Dispatcher, now_ms: u64, jobs: Vec<u64>) {
        for id in jobs {
            self.finish(host, now_ms, id, Err(RedisError::Timeout));
        }
    }

    fn finish(&mut self, host: &mut dyn Dispatcher, now_ms: u64, id: u64, outcome: Outcome) {
        match self.jobs.remove(id) {
            Some((Owner::Http(waiter), _)) => self.finished.push(Finished { waiter, outcome }),
            Some((Owner::Topology, context)) => {
                self.routing.lookup_done(&*host, now_ms, context, outcome)
            }
            None => {}
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
