//! redis-chain-end: the last filter of a chain in Kong's engine. It continues in every phase and
//! does nothing else, so that no filter of ours that pauses on Redis is ever the chain's last:
//! when the last filter pauses after an earlier one did, the engine records the request step as
//! done with the call out and does not hold the request, which may then go on without that
//! filter's verdict and crash the worker when it ends (engine bug 9, docs/kong-engine.md). `render-nginx` appends it to such chains; Kong users end their
//! `filter_chains` with it. It takes no config.

pub mod config;

use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::host::LogLevel;
use redis_filter_core::proxy::respond::RefusedConfig;
use redis_filter_core::proxy::{GuestHost, HttpContext, RootContext};

/// The filter's name, in its log lines and its 500s.
pub const NAME: &str = "redis-chain-end";

redis_filter_core::filter_main!(|_| Box::new(Root::default()));

#[derive(Default)]
struct Root {
    refused: bool,
}

/// Every callback continues: the trait's defaults.
struct Pass;

impl HttpContext for Pass {}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        self.refused = false;
        let Err(e) = config::check(config.as_deref().unwrap_or_default()) else {
            return true;
        };
        let host = GuestHost;
        if host.refusing_config_is_fatal() {
            let line = format!("{e}; every request gets 500 until the config is fixed");
            host.log(LogLevel::Error, &line);
            self.refused = true;
            return true;
        }
        host.log(LogLevel::Error, &e);
        false
    }

    fn create_http_context(&mut self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        Some(Box::new(Pass))
    }
}
