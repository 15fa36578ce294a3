//! redis-jwt as a `Feature` (what its root does): the config parsed once (the credentials with
//! it), with a Redis client and a tick only when credentials are also kept in Redis.

use crate::config::Config;
use crate::request::{Filter, JwtRequest, NAME};
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::{Feature, HttpContext, RedisClient};
use std::rc::Rc;

const TICK_MS: u32 = 100;

impl Feature for Filter {
    const NAME: &'static str = NAME;

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        let client: Option<Rc<dyn RedisSubmit>> = match &config.redis_store {
            Some(store) => Some(RedisClient::new(root_id, &store.redis)?),
            None => None,
        };
        Ok(Filter {
            config,
            host,
            client,
            cache: Default::default(),
            verified: Default::default(),
            failure_log: FailureLog::default(),
        })
    }

    fn tick_ms(&self) -> u32 {
        if self.client.is_some() {
            TICK_MS
        } else {
            0
        }
    }

    /// With `anonymous` it steps aside for a consumer an earlier filter authenticated.
    fn reads_handed(&self) -> bool {
        self.config.anonymous.is_some()
    }

    /// With `anonymous` a request it cannot authenticate goes on as the anonymous consumer.
    fn refuses(&self) -> bool {
        self.config.anonymous.is_none()
    }

    /// Its Redis work is a lookup (a credential's `GET`).
    fn changes_state(&self) -> bool {
        false
    }

    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(JwtRequest::new(context_id, filter.clone()))
    }
}
