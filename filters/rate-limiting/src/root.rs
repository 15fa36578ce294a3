//! The root context: parses the config once, owns the Redis client, flushes `sync_rate` deltas.

use crate::config::{Config, Policy};
use crate::filter::Filter;
use crate::request::RateLimit;
use redis_filter_core::filter_host::{FilterHost, LogLevel, RedisSubmit};
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RedisClient, RootContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use std::rc::Rc;

/// How often the root wakes: the multiplexer's expiries, and the sync check.
const TICK_MS: u32 = 100;
const SYNC_TAG: u32 = 1;

pub struct Root {
    id: u32,
    host: Rc<dyn FilterHost>,
    filter: Option<Rc<Filter>>,
    /// The config was refused where refusing it would kill the worker (Kong's engine): the
    /// filter stays up and answers every request with Kong's 500.
    refused: bool,
}

const NAME: &str = "redis-rate-limiting";

impl Root {
    pub fn new(id: u32) -> Self {
        Self::with_host(id, Rc::new(GuestHost))
    }

    /// A root over a given host (unit tests use `MockHost`).
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
        let client: Option<Rc<dyn RedisSubmit>> = match config.policy {
            Policy::Redis => Some(RedisClient::new(self.id, &config.redis)?),
            Policy::Local => None,
        };
        Ok(Filter::with_host(config, self.host.clone(), client))
    }

    fn flush(&mut self, filter: &Rc<Filter>) {
        let Some(rate) = filter.config.sync_rate else {
            return;
        };
        let every_ms = (rate * 1000.0) as u64;
        let job = filter.syncer.borrow_mut().due(
            filter.host.shared_data(),
            filter.host.now_ms(),
            every_ms,
        );
        let (Some(job), Some(client)) = (job, &filter.client) else {
            return;
        };
        let submitted = client.submit(self.id, SYNC_TAG, Box::new(job));
        if let Submitted::Done(outcome) = submitted {
            self.on_redis(SYNC_TAG, outcome);
        }
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

    fn on_tick(&mut self) {
        if let Some(filter) = self.filter.clone() {
            self.flush(&filter);
        }
    }

    fn on_redis(&mut self, _tag: u32, outcome: Outcome) {
        let Some(filter) = &self.filter else {
            return;
        };
        if let Err(e) = filter.syncer.borrow_mut().done(
            filter.host.shared_data(),
            filter.host.now_ms(),
            outcome,
        ) {
            filter.redis_error();
            self.host.log(LogLevel::Error, &e.to_string());
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(RateLimit::new(context_id, filter)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::filter_host::MockHost;
    use redis_filter_core::proxy::Action;

    fn root(fatal: bool) -> (Root, Rc<MockHost>) {
        let host = Rc::new(MockHost::default());
        host.fatal_refusal.set(fatal);
        (Root::with_host(1, host.clone()), host)
    }

    #[test]
    fn a_bad_config_is_refused_where_refusing_is_safe() {
        let (mut r, host) = root(false);
        assert!(!r.on_configure(Some(br#"{"minutes": 5}"#.to_vec())));
        assert!(host.logs.borrow()[0].1.contains("minutes"));
        assert!(r.create_http_context(2).is_none());
    }

    #[test]
    fn where_refusing_kills_the_worker_the_filter_stays_up_and_answers_500() {
        let (mut r, host) = root(true);
        assert!(r.on_configure(Some(br#"{"minute": "five"}"#.to_vec())));
        let line = host.logs.borrow()[0].1.clone();
        assert!(line.contains("minute: expected a number"), "{line}");
        assert!(r.create_http_context(2).is_some(), "requests get a context");
        // A good config again: the filter serves.
        assert!(r.on_configure(Some(br#"{"minute": 5}"#.to_vec())));
        let mut ctx = r.create_http_context(3).unwrap();
        assert_eq!(ctx.on_request_headers(0, true), Action::Continue);
    }

    #[test]
    fn sync_rate_flushes_from_the_tick_and_keeps_deltas_when_redis_fails() {
        let (mut r, host) = root(false);
        host.now_ms.set(1_000_000);
        let config = br#"{"hour": 100, "policy": "redis", "sync_rate": 1}"#;
        assert!(r.on_configure(Some(config.to_vec())));
        let filter = r.filter.clone().unwrap();
        let mut ctx = RateLimit::new(2, filter.clone());
        assert_eq!(
            ctx.on_request_headers(0, true),
            Action::Continue,
            "counted locally"
        );
        // A failed flush: the delta stays pending, logged, counted as a Redis error.
        r.on_redis(SYNC_TAG, Err(redis_filter_core::RedisError::Timeout));
        assert!(host.logs.borrow().iter().any(|(_, l)| l.contains("sync")));
        assert_eq!(host.metric("redis_rate_limiting.redis_errors"), 1);
    }
}
