//! The per-worker multiplexer owned by a filter's root context. A job's commands go out at once
//! when no call to their node is in flight; jobs that arrive meanwhile wait and leave together as
//! one pipeline when the call in flight returns. Each reply goes back to its job; finished jobs
//! are handed to the caller, which resumes their HTTP contexts. Host-agnostic: the host is a
//! `Dispatcher`, time is passed in.

use super::{Backoff, CallResponse, Framing};
use crate::config::{NodeAddr, RedisConfig};
use crate::job::{Job, Outcome, Step};
use crate::resp::{Command, RedisError, Reply};
use crate::topology::Topology;
use std::collections::{HashMap, VecDeque};

/// How the multiplexer reaches the host.
pub trait Dispatcher {
    /// Sends one pipeline body to `node` through `upstream`; returns the call's token.
    fn dispatch(
        &mut self,
        upstream: &str,
        node: &NodeAddr,
        body: Vec<u8>,
        timeout_ms: u32,
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
}

struct Entry {
    waiter: Waiter,
    job: Box<dyn Job>,
    deadline_ms: u64,
    /// Commands of the job's current step, until they are sent.
    commands: Vec<Command>,
}

struct Call {
    node: NodeAddr,
    jobs: Vec<(u64, usize)>,
    deadline_ms: u64,
}

struct Node {
    in_flight: Option<u32>,
    queue: VecDeque<u64>,
    backoff: Backoff,
}

pub struct Mux {
    config: MuxConfig,
    framing: Framing,
    topology: Box<dyn Topology>,
    entries: HashMap<u64, Entry>,
    nodes: HashMap<NodeAddr, Node>,
    calls: HashMap<u32, Call>,
    finished: Vec<Finished>,
    next_id: u64,
    stats: MuxStats,
}

/// Grace beyond the timeout for a host that never answers a call (e.g. it cancelled it).
const LOST_CALL_GRACE_MS: u64 = 1000;

impl Mux {
    pub fn new(config: MuxConfig, framing: Framing, topology: Box<dyn Topology>) -> Self {
        Self {
            config,
            framing,
            topology,
            entries: HashMap::new(),
            nodes: HashMap::new(),
            calls: HashMap::new(),
            finished: Vec::new(),
            next_id: 1,
            stats: MuxStats::default(),
        }
    }

    pub fn stats(&self) -> &MuxStats {
        &self.stats
    }

    /// Whether `token` is a call of this multiplexer.
    pub fn owns(&self, token: u32) -> bool {
        self.calls.contains_key(&token)
    }

    /// Jobs that finished during the last calls, for the caller to deliver.
    pub fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.finished)
    }

    /// Starts a job. Its own outcome is returned at once if it finished without a call.
    pub fn submit(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        waiter: Waiter,
        mut job: Box<dyn Job>,
    ) -> Submitted {
        self.stats.jobs += 1;
        let id = self.next_id;
        self.next_id += 1;
        let step = job.start();
        let deadline_ms = now_ms + u64::from(self.config.timeout_ms);
        self.entries.insert(
            id,
            Entry {
                waiter,
                job,
                deadline_ms,
                commands: Vec::new(),
            },
        );
        self.advance(host, now_ms, id, step);
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
        let total = call.jobs.iter().map(|(_, n)| n).sum();
        let result = self.framing.replies(response, total);
        if let Some(node) = self.nodes.get_mut(&call.node) {
            node.in_flight = None;
            match &result {
                Ok(_) | Err(RedisError::Server(_)) => node.backoff.success(),
                Err(_) => node.backoff.failure(now_ms),
            }
        }
        match result {
            Ok(replies) => self.deliver(host, now_ms, call.jobs, replies),
            Err(e) => {
                self.stats.failed_calls += 1;
                for (id, _) in call.jobs {
                    self.finish(id, Err(e.clone()));
                }
            }
        }
        self.pump(host, now_ms, &call.node);
    }

    /// Expires jobs past their deadline and calls the host never answered. Call it from on_tick.
    pub fn on_tick(&mut self, host: &mut dyn Dispatcher, now_ms: u64) {
        let lost: Vec<u32> = self
            .calls
            .iter()
            .filter(|(_, c)| now_ms > c.deadline_ms + LOST_CALL_GRACE_MS)
            .map(|(t, _)| *t)
            .collect();
        for token in lost {
            let lost = CallResponse {
                failure: Some("timeout: no answer from the host".into()),
                ..CallResponse::default()
            };
            self.on_response(host, now_ms, token, &lost);
        }
        let nodes: Vec<NodeAddr> = self.nodes.keys().cloned().collect();
        for node in nodes {
            self.expire_queue(now_ms, &node);
        }
    }

    /// The HTTP context went away: its queued jobs are dropped; replies to its jobs in flight
    /// are read and discarded so the other jobs of the same call are not disturbed.
    pub fn cancel(&mut self, context_id: u32) {
        self.entries
            .retain(|_, e| e.waiter.context_id != context_id);
        self.finished.retain(|f| f.waiter.context_id != context_id);
    }

    fn deliver(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        jobs: Vec<(u64, usize)>,
        replies: Vec<Reply>,
    ) {
        let mut replies = replies.into_iter();
        for (id, n) in jobs {
            let part: Vec<Reply> = replies.by_ref().take(n).collect();
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let step = entry.job.on_replies(part);
            self.advance(host, now_ms, id, step);
        }
    }

    /// Takes a job's next step: finish it, or queue its commands on their node and pump.
    fn advance(&mut self, host: &mut dyn Dispatcher, now_ms: u64, id: u64, step: Step) {
        let (target, commands) = match step {
            Step::Done(outcome) => return self.finish(id, outcome),
            Step::Send { target, commands } => (target, commands),
        };
        let node = match self.topology.resolve(&target) {
            Ok(node) => node,
            Err(e) => return self.finish(id, Err(e)),
        };
        let state = self.nodes.entry(node.clone()).or_insert_with(|| Node {
            in_flight: None,
            queue: VecDeque::new(),
            backoff: Backoff::new(self.config.failure_threshold, self.config.backoff_ms),
        });
        if !state.backoff.allows(now_ms) {
            return self.finish(id, Err(RedisError::Unavailable));
        }
        if state.queue.len() >= self.config.max_queue {
            return self.finish(id, Err(RedisError::Overloaded));
        }
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.commands = commands;
        state.queue.push_back(id);
        self.pump(host, now_ms, &node);
    }

    /// Sends what waits for `node` as one call, unless a call to it is in flight.
    fn pump(&mut self, host: &mut dyn Dispatcher, now_ms: u64, node: &NodeAddr) {
        loop {
            self.expire_front(now_ms, node);
            let (jobs, commands) = self.take_batch(node);
            if jobs.is_empty() {
                return;
            }
            let body = self.framing.body(&commands);
            let timeout = self.config.timeout_ms;
            let sent = host.dispatch(&self.config.upstream, node, body, timeout);
            let Some(state) = self.nodes.get_mut(node) else {
                return;
            };
            match sent {
                Ok(token) => {
                    state.in_flight = Some(token);
                    self.stats.calls += 1;
                    self.stats.commands += commands.len() as u64;
                    let call = Call {
                        node: node.clone(),
                        jobs,
                        deadline_ms: now_ms + u64::from(timeout),
                    };
                    self.calls.insert(token, call);
                    return;
                }
                Err(reason) => {
                    state.backoff.failure(now_ms);
                    self.stats.failed_calls += 1;
                    let e = RedisError::Transport(format!("dispatch refused: {reason}"));
                    for (id, _) in jobs {
                        self.finish(id, Err(e.clone()));
                    }
                }
            }
        }
    }

    /// The jobs that leave in the next call to `node` (none while a call is in flight), with
    /// their commands in order.
    fn take_batch(&mut self, node: &NodeAddr) -> (Vec<(u64, usize)>, Vec<Command>) {
        let mut jobs = Vec::new();
        let mut commands: Vec<Command> = Vec::new();
        let Some(state) = self.nodes.get_mut(node) else {
            return (jobs, commands);
        };
        if state.in_flight.is_some() {
            return (jobs, commands);
        }
        while let Some(id) = state.queue.front().copied() {
            let Some(entry) = self.entries.get_mut(&id) else {
                state.queue.pop_front(); // cancelled
                continue;
            };
            if !jobs.is_empty() && commands.len() + entry.commands.len() > self.config.max_batch {
                break;
            }
            state.queue.pop_front();
            jobs.push((id, entry.commands.len()));
            commands.append(&mut entry.commands);
        }
        (jobs, commands)
    }

    /// Fails the jobs at the front of `node`'s queue whose deadline passed (queues are mostly in
    /// deadline order; `expire_queue` sweeps the rest from on_tick).
    fn expire_front(&mut self, now_ms: u64, node: &NodeAddr) {
        while let Some(state) = self.nodes.get_mut(node) {
            let Some(id) = state.queue.front().copied() else {
                return;
            };
            match self.entries.get(&id) {
                Some(e) if e.deadline_ms > now_ms => return,
                _ => {
                    state.queue.pop_front();
                    self.finish(id, Err(RedisError::Timeout));
                }
            }
        }
    }

    /// Fails every job queued for `node` whose deadline passed.
    fn expire_queue(&mut self, now_ms: u64, node: &NodeAddr) {
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        let entries = &self.entries;
        let mut expired = Vec::new();
        state.queue.retain(|id| match entries.get(id) {
            Some(e) if e.deadline_ms <= now_ms => {
                expired.push(*id);
                false
            }
            Some(_) => true,
            None => false,
        });
        for id in expired {
            self.finish(id, Err(RedisError::Timeout));
        }
    }

    fn finish(&mut self, id: u64, outcome: Outcome) {
        if let Some(entry) = self.entries.remove(&id) {
            self.finished.push(Finished {
                waiter: entry.waiter,
                outcome,
            });
        }
    }
}

#[cfg(test)]
#[path = "mux_tests.rs"]
mod tests;
