//! The session as a `Feature` (what its root does): the config parsed once with its Redis
//! client, and the answers to the sessions it writes for responses (in Kong's engine they
//! leave from its tick).

use crate::config::{Config, Storage};
use crate::filter::{Filter, NAME};
use crate::request::SessionRequest;
use crate::store;
use redis_filter_core::filter_host::{FilterHost, LogLevel, RedisSubmit};
use redis_filter_core::proxy::{Feature, HttpContext, RedisClient};
use redis_filter_core::Outcome;
use std::rc::Rc;

const TICK_MS: u32 = 50;

impl Feature for Filter {
    const NAME: &'static str = NAME;

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        if config.secret.is_none() {
            host.log(
                LogLevel::Warn,
                "redis-session: no secret configured; set one (the same on every node) so \
                 that forged cookies are refused before they reach Redis",
            );
        }
        let client: Option<Rc<dyn RedisSubmit>> = match config.storage {
            Storage::Redis => Some(RedisClient::new(root_id, &config.redis)?),
            Storage::Cookie => None,
        };
        Ok(Filter::with_host(config, host, client, root_id))
    }

    fn tick_ms(&self) -> u32 {
        TICK_MS
    }

    fn on_redis(filter: &Rc<Self>, _tag: u32, outcome: Outcome) {
        if let Err(e) = store::done(outcome) {
            filter.redis_failed(&format!("[session] could not save a session: {e}"));
        }
    }

    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(SessionRequest::new(context_id, filter.clone()))
    }
}
