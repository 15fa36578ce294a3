//! The root context: parses the config once (the credentials with it), and owns the Redis
//! client when credentials are also kept in Redis.

use crate::config::Config;
use crate::request::{Filter, JwtRequest, NAME};
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RedisClient, RootContext};
use std::rc::Rc;

/// The Redis client's timeouts are checked on this tick (none without Redis).
const TICK_MS: u32 = 100;

pub struct Root {
    id: u32,
    host: Rc<dyn FilterHost>,
    filter: Option<Rc<Filter>>,
    refused: bool,
}

impl Root {
    pub fn new(id: u32) -> Self {
        Self {
            id,
            host: Rc::new(GuestHost),
            filter: None,
            refused: false,
        }
    }

    fn build(&self, raw: &[u8]) -> Result<Filter, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        let client: Option<Rc<dyn RedisSubmit>> = match &config.redis_store {
            Some(store) => Some(RedisClient::new(self.id, &store.redis)?),
            None => None,
        };
        Ok(Filter {
            config,
            host: self.host.clone(),
            client,
            cache: Default::default(),
            verified: Default::default(),
            failure_log: FailureLog::default(),
        })
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let built = self.build(&raw);
        let tick = match &built {
            Ok(filter) if filter.client.is_some() => TICK_MS,
            _ => 0,
        };
        let host = self.host.clone();
        respond::configure(
            host.as_ref(),
            built,
            tick,
            &mut self.filter,
            &mut self.refused,
        )
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(JwtRequest::new(context_id, filter)))
    }
}
