//! How a RESP pipeline reaches Redis through the host: the tunnel framing, and the per-worker
//! multiplexer (`mux`) that batches requests, with its parts: the jobs under way (`jobs`), where
//! each part goes (`routing`), the node queues (`node_queue`), the calls in flight (`calls`), the
//! host's affinity (`affinity`) and the host itself (`dispatcher`). The host side of it lives in
//! `proxy`.

mod affinity;
mod backoff;
mod calls;
mod dispatcher;
mod jobs;
mod mux;
mod mux_config;
mod node_queue;
mod routing;
mod tunnel;

pub use affinity::Affinity;
pub use backoff::Backoff;
pub use dispatcher::Dispatcher;
pub use jobs::Waiter;
pub use mux::{Finished, Mux, MuxStats, Submitted};
pub use mux_config::MuxConfig;
pub use tunnel::{CallResponse, Framing, TlsAsk};
