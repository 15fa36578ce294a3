//! How the multiplexer reaches the host: it sends calls through it, asks which context's
//! callback is running, and keeps the topology's lookups in its shared data.

use super::TlsAsk;
use crate::config::NodeAddr;
use crate::shared_data::SharedData;

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
