//! The calls to Redis nodes: a batch is framed and sent through the host, then kept until its
//! answer comes back and is unframed, or until the sweep gives up on an answer that never came.

use super::affinity::Whose;
use super::jobs::Ticket;
use super::node_queue::{Batch, NodeKey};
use super::{CallResponse, Dispatcher, Framing, TlsAsk};
use crate::fast_hash::FastMap;
use crate::resp::{RedisError, Reply};
use crate::topology::Kind;

/// Grace beyond the timeout for a host that never answers a call (e.g. it cancelled it).
pub(super) const LOST_CALL_GRACE_MS: u64 = 1000;

/// A call in flight.
pub(super) struct Call {
    pub(super) node: NodeKey,
    /// The context that dispatched it.
    context: u32,
    /// The parts it carries, each with its number of commands.
    pub(super) tickets: Vec<(Ticket, usize)>,
    deadline_ms: u64,
}

/// Why the host refused a batch, and the batch's tickets back.
pub(super) type Refused = (String, Vec<(Ticket, usize)>);

pub(super) struct Calls {
    upstream: String,
    timeout_ms: u32,
    /// TLS asked of the tunnel for every call.
    tls: Option<TlsAsk>,
    /// How calls to data nodes open and close.
    framing: Framing,
    /// How calls to sentinels do (their own credentials).
    sentinel_framing: Framing,
    in_flight: FastMap<u32, Call>,
}

impl Calls {
    pub(super) fn new(
        upstream: String,
        timeout_ms: u32,
        tls: Option<TlsAsk>,
        framing: Framing,
    ) -> Self {
        Self {
            upstream,
            timeout_ms,
            tls,
            framing,
            sentinel_framing: Framing::bare(),
            in_flight: FastMap::default(),
        }
    }

    pub(super) fn set_sentinel_framing(&mut self, framing: Framing) {
        self.sentinel_framing = framing;
    }

    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// The context that dispatched call `token`, if it is one of ours.
    pub(super) fn context(&self, token: u32) -> Option<u32> {
        self.in_flight.get(&token).map(|c| c.context)
    }

    /// Sends `batch` to `node` from the running callback: the call's token.
    pub(super) fn send(
        &mut self,
        host: &mut dyn Dispatcher,
        now_ms: u64,
        node: &NodeKey,
        batch: Batch,
    ) -> Result<u32, Refused> {
        let context = host.current_context();
        let body = self.framing(node.1).body(&batch.commands);
        let tls = self.tls.as_ref();
        match host.dispatch(&self.upstream, &node.0, body, self.timeout_ms, tls) {
            Ok(token) => {
                let call = Call {
                    node: node.clone(),
                    context,
                    tickets: batch.tickets,
                    deadline_ms: now_ms + u64::from(self.timeout_ms),
                };
                self.in_flight.insert(token, call);
                Ok(token)
            }
            Err(reason) => Err((reason, batch.tickets)),
        }
    }

    /// Call `token` came back: the call, and the replies its answer holds. None for a token
    /// that is not ours (the late answer of a call given up on).
    pub(super) fn answer(
        &mut self,
        token: u32,
        response: &CallResponse,
    ) -> Option<(Call, Result<Vec<Reply>, RedisError>)> {
        let call = self.in_flight.remove(&token)?;
        let total = call.tickets.iter().map(|(_, n)| n).sum();
        let replies = self.framing(call.node.1).replies(response, total);
        Some((call, replies))
    }

    /// The calls of `whose` the host should have answered by now.
    pub(super) fn lost(&self, now_ms: u64, whose: Whose) -> Vec<u32> {
        self.in_flight
            .iter()
            .filter(|(_, c)| now_ms > c.deadline_ms + LOST_CALL_GRACE_MS)
            .filter(|(_, c)| whose.admits(Some(c.context)))
            .map(|(token, _)| *token)
            .collect()
    }

    /// Forgets the calls `context` dispatched: their answers go to nobody now.
    pub(super) fn forget(&mut self, context: u32) {
        self.in_flight.retain(|_, c| c.context != context);
    }

    /// How calls to a node of this kind open and close.
    fn framing(&self, kind: Kind) -> &Framing {
        match kind {
            Kind::Data => &self.framing,
            Kind::Sentinel => &self.sentinel_framing,
        }
    }
}
