//! The root context: parses the config once and owns the Redis client.

use crate::config::Config;
use crate::request::{BlacklistRequest, Filter, NAME};
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RedisClient, RootContext};
use std::rc::Rc;

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
        let client = RedisClient::new(self.id, &config.redis)?;
        Ok(Filter {
            config,
            host: self.host.clone(),
            client,
            failure_log: FailureLog::default(),
            root_id: self.id,
        })
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

    /// A revocation made as a response passed (the filter before redis-jwt): only its failure
    /// is news.
    fn on_redis(&mut self, _tag: u32, outcome: redis_filter_core::Outcome) {
        if let (Some(filter), Err(e)) = (&self.filter, crate::revoked::revoked(outcome)) {
            filter.log_failure(&e);
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(BlacklistRequest::new(context_id, filter)))
    }
}
