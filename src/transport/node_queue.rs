//! Each Redis node's queue of parts waiting to leave: they go in batches of as many commands as a
//! call may carry, a node that keeps failing is given a rest (its breaker), parts that waited past
//! their job's deadline expire, and a hold keeps everything queued until it is released.

use super::affinity::Whose;
use super::jobs::{Jobs, Ticket};
use super::Backoff;
use crate::config::NodeAddr;
use crate::fast_hash::FastMap;
use crate::resp::Command;
use crate::topology::Kind;
use std::collections::VecDeque;

/// A node, and whether it is a data node or a sentinel.
pub(super) type NodeKey = (NodeAddr, Kind);

/// The parts that leave in one call: each ticket with its number of commands, and all their
/// commands in order.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) tickets: Vec<(Ticket, usize)>,
    pub(super) commands: Vec<Command>,
}

/// What became of a part offered to its node's queue.
pub(super) enum Queued {
    /// In the queue: the node may be pumped now.
    Ready,
    /// In the queue: the node is pumped on `release`.
    Held,
    /// Refused: the node's breaker is open.
    Down,
    /// Refused: the queue is full.
    Full,
}

struct Node {
    /// The call in flight, when a node takes one at a time.
    in_flight: Option<u32>,
    queue: VecDeque<Ticket>,
    breaker: Backoff,
}

pub(super) struct NodeQueues {
    nodes: FastMap<NodeKey, Node>,
    /// Parts waiting per node beyond this are refused.
    max_queue: usize,
    /// Commands per call; more wait for the next call.
    max_batch: usize,
    /// A new node's breaker.
    breaker: Backoff,
    /// While above 0, queued nodes wait in `held` rather than being pumped, so that the parts
    /// of a step (or of jobs submitted together) leave as one call per node.
    holding: u32,
    held: Vec<NodeKey>,
}

impl NodeQueues {
    pub(super) fn new(max_queue: usize, max_batch: usize, breaker: Backoff) -> Self {
        Self {
            nodes: FastMap::default(),
            max_queue,
            max_batch,
            breaker,
            holding: 0,
            held: Vec::new(),
        }
    }

    /// Every node a part was ever offered to.
    pub(super) fn nodes(&self) -> Vec<NodeKey> {
        self.nodes.keys().cloned().collect()
    }

    pub(super) fn hold(&mut self) {
        self.holding += 1;
    }

    /// Ends a `hold`: the nodes to pump now (none while another hold lasts).
    pub(super) fn release(&mut self) -> Vec<NodeKey> {
        self.holding = self.holding.saturating_sub(1);
        if self.holding == 0 {
            std::mem::take(&mut self.held)
        } else {
            Vec::new()
        }
    }

    /// Puts `ticket` at the back of `node`'s queue, unless the node is resting or its queue
    /// is full.
    pub(super) fn push(&mut self, now_ms: u64, ticket: Ticket, node: &NodeKey) -> Queued {
        let state = self.nodes.entry(node.clone()).or_insert_with(|| Node {
            in_flight: None,
            queue: VecDeque::new(),
            breaker: self.breaker.clone(),
        });
        if !state.breaker.allows(now_ms) {
            return Queued::Down;
        }
        if state.queue.len() >= self.max_queue {
            return Queued::Full;
        }
        state.queue.push_back(ticket);
        if self.holding == 0 {
            Queued::Ready
        } else {
            if !self.held.contains(node) {
                self.held.push(node.clone());
            }
            Queued::Held
        }
    }

    /// The parts of `whose` that leave in the next call to `node` (none while a call to it is
    /// in flight). Stale tickets are dropped on the way; the others stay queued, in order.
    pub(super) fn take_batch(&mut self, node: &NodeKey, jobs: &mut Jobs, whose: Whose) -> Batch {
        let mut batch = Batch::default();
        let Some(state) = self.nodes.get_mut(node) else {
            return batch;
        };
        if state.in_flight.is_some() {
            return batch;
        }
        let mut rest = VecDeque::new();
        while let Some(ticket) = state.queue.pop_front() {
            let Some((context, commands)) = jobs.part_mut(ticket) else {
                continue; // cancelled, or its step is over
            };
            if !whose.admits(Some(context)) {
                rest.push_back(ticket);
                continue;
            }
            let full =
                !batch.tickets.is_empty() && batch.commands.len() + commands.len() > self.max_batch;
            if full {
                rest.push_back(ticket);
                if whose.keeps_order() {
                    break;
                }
                continue;
            }
            batch.tickets.push((ticket, commands.len()));
            batch.commands.append(commands);
        }
        rest.append(&mut state.queue);
        state.queue = rest;
        batch
    }

    /// Takes the parts at the front of `node`'s queue whose job's deadline passed (a queue is
    /// mostly in deadline order; `expire_all` sweeps the rest): the jobs to time out.
    pub(super) fn expire_front(&mut self, node: &NodeKey, jobs: &Jobs, now_ms: u64) -> Vec<u64> {
        let mut expired = Vec::new();
        let Some(state) = self.nodes.get_mut(node) else {
            return expired;
        };
        while let Some(ticket) = state.queue.front().copied() {
            if !jobs.is_current(ticket) {
                state.queue.pop_front();
            } else if jobs.past_deadline(ticket.job(), now_ms) {
                state.queue.pop_front();
                expired.push(ticket.job());
            } else {
                break;
            }
        }
        expired
    }

    /// Takes every part queued for `node` whose job's deadline passed: the jobs to time out.
    pub(super) fn expire_all(&mut self, node: &NodeKey, jobs: &Jobs, now_ms: u64) -> Vec<u64> {
        let mut expired = Vec::new();
        if let Some(state) = self.nodes.get_mut(node) {
            state.queue.retain(|&ticket| {
                if !jobs.is_current(ticket) {
                    return false;
                }
                let late = jobs.past_deadline(ticket.job(), now_ms);
                if late {
                    expired.push(ticket.job());
                }
                !late
            });
        }
        expired
    }

    /// Call `token` to `node` is in flight: nothing else leaves for it until it returns.
    pub(super) fn busy(&mut self, node: &NodeKey, token: u32) {
        if let Some(state) = self.nodes.get_mut(node) {
            state.in_flight = Some(token);
        }
    }

    /// The host refused a call to `node`.
    pub(super) fn refused(&mut self, node: &NodeKey, now_ms: u64) {
        if let Some(state) = self.nodes.get_mut(node) {
            state.breaker.failure(now_ms);
        }
    }

    /// Call `token` to `node` came back; `healthy` when the node answered (a Redis error
    /// included), not when the call failed on the way.
    pub(super) fn returned(&mut self, node: &NodeKey, token: u32, healthy: bool, now_ms: u64) {
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        if state.in_flight == Some(token) {
            state.in_flight = None;
        }
        if healthy {
            state.breaker.success();
        } else {
            state.breaker.failure(now_ms);
        }
    }
}
