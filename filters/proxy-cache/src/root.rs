//! The root context: parses the config once, owns the Redis client, and hears the answers to
//! the writes (which are its work: in Kong's engine they leave from its `on_tick`).

use crate::config::{Config, Strategy};
use crate::filter::{Filter, NAME};
use crate::request::{written, CacheRequest, WRITE};
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RedisClient, RootContext};
use redis_filter_core::Outcome;
use std::rc::Rc;

/// How often the root wakes: the multiplexer's expiries, and in Kong's engine the writes that
/// responses left for it.
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
        let client: Option<Rc<dyn RedisSubmit>> = match config.strategy {
            Strategy::Redis => Some(RedisClient::new(self.id, &config.redis)?),
            Strategy::Memory => None,
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

    fn on_redis(&mut self, tag: u32, outcome: Outcome) {
        let Some(filter) = &self.filter else {
            return;
        };
        match (tag, outcome) {
            (WRITE, outcome) => {
                written(filter, outcome);
                // An entry this worker fetched for its waiters landed: they need not wait
                // for the next tick.
                filter.poll_waiters();
            }
            (_, Err(e)) => filter.storage_failed(&format!("[proxy-cache] lock release: {e}")),
            (_, Ok(_)) => {}
        }
    }

    fn on_tick(&mut self) {
        if let Some(filter) = &self.filter {
            filter.poll_waiters();
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(CacheRequest::new(context_id, filter)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::filter_host::MockHost;
    use redis_filter_core::proxy::Action;

    #[test]
    fn a_bad_config_is_refused_or_answered_with_500_where_refusing_is_fatal() {
        let host = Rc::new(MockHost::default());
        let mut r = Root::with_host(1, host.clone());
        assert!(!r.on_configure(Some(br#"{"strategy": "disk"}"#.to_vec())));
        assert!(host.logs.borrow()[0].1.contains("strategy"));
        assert!(r.create_http_context(2).is_none());
        host.fatal_refusal.set(true);
        assert!(r.on_configure(Some(br#"{"cache_ttl": 5}"#.to_vec())));
        assert!(r.create_http_context(3).is_some());
        assert!(r.on_configure(Some(br#"{"strategy": "memory"}"#.to_vec())));
        let mut ctx = r.create_http_context(4).unwrap();
        host.request_headers
            .borrow_mut()
            .insert(":method".into(), "POST".into());
        assert_eq!(ctx.on_request_headers(0, true), Action::Continue);
    }
}
