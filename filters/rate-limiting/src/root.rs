//! The root context: parses the config once, owns the Redis client, flushes `sync_rate` deltas.

use crate::config::Config;
use crate::filter::Filter;
use crate::request::RateLimit;
use redis_filter_core::proxy::host::{self, LogLevel};
use redis_filter_core::proxy::respond::{refusing_config_is_fatal, RefusedConfig};
use redis_filter_core::proxy::HostSharedData;
use redis_filter_core::proxy::{HttpContext, RootContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use std::rc::Rc;

/// How often the root wakes: the multiplexer's expiries, and the sync check.
const TICK_MS: u32 = 100;
const SYNC_TAG: u32 = 1;

pub struct Root {
    id: u32,
    filter: Option<Rc<Filter>>,
    /// The config was refused where refusing it would kill the worker (Kong's engine): the
    /// filter stays up and answers every request with Kong's 500.
    refused: bool,
}

const NAME: &str = "redis-rate-limiting";

impl Root {
    pub fn new(id: u32) -> Self {
        Self {
            id,
            filter: None,
            refused: false,
        }
    }

    fn flush(&mut self, filter: &Rc<Filter>) {
        let Some(rate) = filter.config.sync_rate else {
            return;
        };
        let every_ms = (rate * 1000.0) as u64;
        let job = filter
            .syncer
            .borrow_mut()
            .due(&HostSharedData, host::now_ms(), every_ms);
        let (Some(job), Some(client)) = (job, &filter.client) else {
            return;
        };
        let submitted = match client.try_borrow_mut() {
            Ok(mut c) => c.submit(self.id, SYNC_TAG, Box::new(job)),
            Err(_) => return,
        };
        if let Submitted::Done(outcome) = submitted {
            self.on_redis(SYNC_TAG, outcome);
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let built = Config::parse(&raw)
            .map_err(|e| e.to_string())
            .and_then(|c| Filter::new(self.id, c));
        match built {
            Ok(filter) => {
                self.refused = false;
                self.filter = Some(Rc::new(filter));
                if let Err(s) = host::set_tick_period_ms(TICK_MS) {
                    host::log(LogLevel::Warn, &format!("{NAME}: no tick (status {})", s.0));
                }
                true
            }
            Err(e) => {
                self.filter = None;
                if refusing_config_is_fatal() {
                    host::log(
                        LogLevel::Error,
                        &format!("{NAME}: {e}; every request gets 500 until the config is fixed"),
                    );
                    self.refused = true;
                    return true;
                }
                host::log(LogLevel::Error, &format!("{NAME}: {e}"));
                false
            }
        }
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
        if let Err(e) = filter.syncer.borrow_mut().done(&HostSharedData, outcome) {
            filter.metrics.redis_error();
            host::log(LogLevel::Error, &format!("{NAME}: {e}"));
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
