//! redis-chain-end: the last filter of a chain in Kong's engine. It continues in every phase and
//! does nothing else, so that no filter of ours that pauses on Redis is ever the chain's last:
//! when the last filter pauses after an earlier one did, the engine records the request step as
//! done with the call out and does not hold the request, which may then go on without that
//! filter's verdict and crash the worker when it ends (engine bug 9, docs/kong-engine.md). `render-nginx` appends it to such chains; Kong users end their
//! `filter_chains` with it. It takes no config.

pub mod config;

use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::{Feature, FeatureRoot, HttpContext};
use std::rc::Rc;

/// The filter's name, in its log lines and its 500s.
pub const NAME: &str = "redis-chain-end";

redis_filter_core::filter_main!(root);

/// Its root context (its module's, and the Envoy dynamic module's `redis-chain-end`).
pub fn root(id: u32) -> Box<dyn redis_filter_core::proxy::RootContext> {
    Box::new(FeatureRoot::<ChainEnd>::new(id))
}

/// The filter: nothing but its accepted config.
pub struct ChainEnd;

/// Every callback continues: the trait's defaults.
struct Pass;

impl HttpContext for Pass {}

impl Feature for ChainEnd {
    const NAME: &'static str = NAME;

    fn build(_root_id: u32, _host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        config::check(raw).map(|()| ChainEnd)
    }

    fn tick_ms(&self) -> u32 {
        0
    }

    fn request(_filter: &Rc<Self>, _context_id: u32) -> Box<dyn HttpContext> {
        Box::new(Pass)
    }
}
