//! The root context: parses the config once, owns the Redis client, and hears the answers to
//! the sessions it writes for responses (in Kong's engine they leave from its tick).

use crate::config::{Config, Storage};
use crate::filter::{Filter, NAME};
use crate::request::SessionRequest;
use crate::store;
use redis_filter_core::filter_host::{FilterHost, LogLevel, RedisSubmit};
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RedisClient, RootContext};
use redis_filter_core::Outcome;
use std::rc::Rc;

const TICK_MS: u32 = 50;

pub struct Root {
    id: u32,
    host: Rc<dyn FilterHost>,
    filter: Option<Rc<Filter>>,
    refused: bool,
}

impl Root {
    pub fn new(id: u32) -> Self {
        Self::with_host(id, Rc::new(GuestHost))
    }

    pub fn with_host(id: u32, host: Rc<dyn FilterHost>) -> Self {
        Self {
            id,
            host,
            filter: None,
            refused: false,
        }
    }

    fn build(&self, raw: &[u8]) -> Result<Filter, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        if config.secret.is_none() {
            self.host.log(
                LogLevel::Warn,
                "redis-session: no secret configured; set one (the same on every node) so \
                 that forged cookies are refused before they reach Redis",
            );
        }
        let client: Option<Rc<dyn RedisSubmit>> = match config.storage {
            Storage::Redis => Some(RedisClient::new(self.id, &config.redis)?),
            Storage::Cookie => None,
        };
        Ok(Filter::with_host(
            config,
            self.host.clone(),
            client,
            self.id,
        ))
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let built = self.build(&raw);
        let host = self.host.clone();
        respond::configure(
            host.as_ref(),
            built,
            TICK_MS,
            &mut self.filter,
            &mut self.refused,
        )
    }

    fn on_redis(&mut self, _tag: u32, outcome: Outcome) {
        if let (Some(filter), Err(e)) = (&self.filter, store::done(outcome)) {
            filter.redis_failed(&format!("[session] could not save a session: {e}"));
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(SessionRequest::new(context_id, filter)))
    }
}
