//! How a RESP pipeline reaches Redis through the host: the tunnel framing, the per-worker
//! multiplexer that batches requests. The host side of it lives in `proxy`.

mod backoff;
mod mux;
mod tunnel;

pub use backoff::Backoff;
pub use mux::{Affinity, Dispatcher, Finished, Mux, MuxConfig, MuxStats, Submitted, Waiter};
pub use tunnel::{CallResponse, Framing, TlsAsk};
