//! The one way hosts differ for the multiplexer: whether a request's callback may send and
//! resume other requests' work. `Affinity` is the switch; its `Policy` answers the questions the
//! multiplexer asks about it, once for Envoy (`SharedCalls`) and once for Kong (`OwnCalls`).

use super::Dispatcher;

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

impl Affinity {
    /// The rules the multiplexer follows in a host of this affinity.
    pub(super) fn policy(self) -> &'static dyn Policy {
        match self {
            Affinity::Shared => &SharedCalls,
            Affinity::PerContext => &OwnCalls,
        }
    }
}

/// Whose work a callback takes up: puts in its calls, routes again, gives up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Whose {
    /// Every context's: they share calls.
    Anyone,
    /// This context's alone.
    Only(u32),
}

impl Whose {
    /// Whether work of `context` is taken up. `None` is work whose job is gone: only `Anyone`
    /// takes it up (and finds nothing to do with it).
    pub(super) fn admits(self, context: Option<u32>) -> bool {
        match self {
            Whose::Anyone => true,
            Whose::Only(own) => context == Some(own),
        }
    }

    /// Whether a batch keeps its queue's order, so that a part too large for it closes it. A
    /// queue everyone shares must: else smaller parts behind a large one could pass it call
    /// after call. One context's parts all leave in the same pump anyway, so a part that does
    /// not fit waits for the next call while those behind it fill this one.
    pub(super) fn keeps_order(self) -> bool {
        self == Whose::Anyone
    }
}

/// What the multiplexer asks about the host's affinity.
pub(super) trait Policy {
    /// The switch this policy stands for.
    fn affinity(&self) -> Affinity;

    /// Whose work the callback running for `current` takes up: what its calls carry, which
    /// parked parts it routes again, whose overdue calls and parts its tick gives up on.
    fn whose(&self, current: u32) -> Whose;

    /// Whether a call may leave from the callback running now.
    fn may_send(&self, host: &dyn Dispatcher) -> bool;

    /// Whether a node takes one call at a time. Then what comes meanwhile waits in its queue,
    /// leaves with the next call when this one returns, and expires there if it waits too
    /// long. Else a queue holds only what waited for a callback that may send, and the tick,
    /// one such callback, sends it.
    fn one_call_per_node(&self) -> bool;

    /// Whether calls and lookups belong to the context that started them: then a part that
    /// must wait for the layout runs its own context's lookup (nobody else's would wake it),
    /// and a context that goes away takes its calls and lookups with it.
    fn calls_are_private(&self) -> bool;
}

/// Envoy: one queue per node for every request of the worker, one call in flight.
struct SharedCalls;

impl Policy for SharedCalls {
    fn affinity(&self) -> Affinity {
        Affinity::Shared
    }

    fn whose(&self, _current: u32) -> Whose {
        Whose::Anyone
    }

    fn may_send(&self, _host: &dyn Dispatcher) -> bool {
        true
    }

    fn one_call_per_node(&self) -> bool {
        true
    }

    fn calls_are_private(&self) -> bool {
        false
    }
}

/// Kong's engine: each context sends its own work, from its own callbacks.
struct OwnCalls;

impl Policy for OwnCalls {
    fn affinity(&self) -> Affinity {
        Affinity::PerContext
    }

    fn whose(&self, current: u32) -> Whose {
        Whose::Only(current)
    }

    fn may_send(&self, host: &dyn Dispatcher) -> bool {
        host.can_dispatch()
    }

    fn one_call_per_node(&self) -> bool {
        false
    }

    fn calls_are_private(&self) -> bool {
        true
    }
}
