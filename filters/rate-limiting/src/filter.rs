//! What one configured use of the filter shares between its root context and its requests: the
//! config, the host and Redis it works through (the real ones, or mocks in unit tests), its
//! metrics and its sync state.

use crate::config::Config;
use crate::sync::Syncer;
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub struct Metrics {
    allowed: Option<u32>,
    allowed_redis_down: Option<u32>,
    limited: Option<u32>,
    redis_errors: Option<u32>,
    evictions: Option<u32>,
}

impl Metrics {
    fn define(host: &dyn FilterHost) -> Self {
        Self {
            allowed: host.counter("redis_rate_limiting.allowed"),
            allowed_redis_down: host.counter("redis_rate_limiting.allowed_redis_down"),
            limited: host.counter("redis_rate_limiting.limited"),
            redis_errors: host.counter("redis_rate_limiting.redis_errors"),
            evictions: host.counter("redis_rate_limiting.evictions"),
        }
    }
}

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
    pub client: Option<Rc<dyn RedisSubmit>>,
    pub metrics: Metrics,
    pub syncer: RefCell<Syncer>,
    /// Redis failures logged at most once a second (`failed to get usage: ...`, then how many
    /// more there were), so an outage does not flood the host's log.
    pub failure_log: FailureLog,
    /// Whether the host has Kong's `kong.route_id` / `kong.service_id` properties (Kong does,
    /// Envoy does not): learnt on the first request, so other hosts are not asked every time.
    pub kong_properties: Cell<Option<bool>>,
}

impl Filter {
    /// The filter over its host and Redis (the guest's, or `MockHost` and `MockRedis` in unit
    /// tests); the root builds it.
    pub fn with_host(
        config: Config,
        host: Rc<dyn FilterHost>,
        client: Option<Rc<dyn RedisSubmit>>,
    ) -> Self {
        let syncer = Syncer::new(config.redis.max_redirections());
        Self {
            metrics: Metrics::define(host.as_ref()),
            config,
            host,
            client,
            syncer: RefCell::new(syncer),
            failure_log: FailureLog::default(),
            kong_properties: Cell::new(None),
        }
    }

    fn bump(&self, id: Option<u32>) {
        if let Some(id) = id {
            self.host.increment(id, 1);
        }
    }

    /// A live counter of another window gave up its slot in the full table (`slots`).
    pub fn evicted(&self) {
        self.bump(self.metrics.evictions);
    }

    pub fn allowed(&self) {
        self.bump(self.metrics.allowed);
    }

    /// Let through only because Redis failed and the filter is `fault_tolerant`.
    pub fn allowed_redis_down(&self) {
        self.bump(self.metrics.allowed_redis_down);
    }

    pub fn limited(&self) {
        self.bump(self.metrics.limited);
    }

    /// A Redis failure: counted, logged at most once a second.
    pub fn redis_failed(&self, line: &str) {
        self.bump(self.metrics.redis_errors);
        self.failure_log.report(self.host.as_ref(), line);
    }
}
