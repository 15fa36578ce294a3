//! What a filter implements: a root context per filter configuration (per worker) and an HTTP
//! context per request. Shaped like the proxy-wasm SDK's traits, plus `on_redis`.

use crate::job::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

pub trait RootContext {
    fn on_vm_start(&mut self, _vm_config: Option<Vec<u8>>) -> bool {
        true
    }
    /// The filter's config (Kong's `config`, Envoy's `configuration`). Returning false makes
    /// some hosts kill the worker (Kong): prefer staying up and failing requests visibly.
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool;
    fn on_tick(&mut self) {}
    /// A Redis job the root submitted (with its own context id) finished.
    fn on_redis(&mut self, _tag: u32, _outcome: Outcome) {}
    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>>;
    /// The periodic work this root holds (`Feature::hand_over`), taken from it for another root
    /// of the same config: a host that cannot tick an idle worker (the Envoy module) hands it
    /// over as the worker goes idle.
    fn hand_over(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// Work another root handed over (`hand_over`), now this root's.
    fn take_over(&mut self, _work: &[u8]) {}
    /// Whether its tick still has work to do (`Feature::holds_work`).
    fn holds_work(&self) -> bool {
        false
    }
    /// Whether it ever has Redis work of its own or work to hand over (`Feature::root_works`).
    fn root_works(&self) -> bool {
        false
    }
}

pub trait HttpContext {
    fn on_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }
    fn on_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }
    fn on_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }
    fn on_response_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }
    fn on_log(&mut self) {}
    /// While this request's headers wait for Redis: whether the answer may still end the
    /// request with this filter's own response (a 401, a 429). `redis-chain` lets the filters
    /// after one that cannot start their Redis work in the same round trip.
    fn may_answer(&self) -> bool {
        true
    }
    /// A Redis job this context submitted finished. `Continue` resumes the phase the context
    /// paused in; `Pause` leaves it paused (e.g. after sending a local response).
    fn on_redis(&mut self, _tag: u32, _outcome: Outcome) -> Action {
        Action::Continue
    }
}
