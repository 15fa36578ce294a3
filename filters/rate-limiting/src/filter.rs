//! What one configured use of the filter shares between its root context and its requests.

use crate::config::{Config, Policy};
use crate::sync::Syncer;
use redis_filter_core::proxy::host::{self, MetricType};
use redis_filter_core::proxy::{RedisClient, SharedClient};
use std::cell::{Cell, RefCell};

pub struct Metrics {
    allowed: Option<u32>,
    limited: Option<u32>,
    redis_errors: Option<u32>,
}

impl Metrics {
    fn define() -> Self {
        let counter = |name: &str| host::define_metric(MetricType::Counter, name).ok();
        Self {
            allowed: counter("redis_rate_limiting.allowed"),
            limited: counter("redis_rate_limiting.limited"),
            redis_errors: counter("redis_rate_limiting.redis_errors"),
        }
    }

    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            let _ = host::increment_metric(id, 1);
        }
    }

    pub fn allowed(&self) {
        Self::bump(self.allowed);
    }
    pub fn limited(&self) {
        Self::bump(self.limited);
    }
    pub fn redis_error(&self) {
        Self::bump(self.redis_errors);
    }
}

pub struct Filter {
    pub config: Config,
    pub client: Option<SharedClient>,
    pub metrics: Metrics,
    pub syncer: RefCell<Syncer>,
    /// Whether the host has Kong's `kong.route_id` / `kong.service_id` properties (Kong does,
    /// Envoy does not): learnt on the first request, so other hosts are not asked every time.
    pub kong_properties: Cell<Option<bool>>,
}

impl Filter {
    pub fn new(root_id: u32, config: Config) -> Result<Self, String> {
        let client = match config.policy {
            Policy::Redis => Some(RedisClient::new(root_id, &config.redis)?),
            Policy::Local => None,
        };
        let syncer = Syncer::new(config.redis.max_redirections());
        Ok(Self {
            config,
            client,
            metrics: Metrics::define(),
            syncer: RefCell::new(syncer),
            kong_properties: Cell::new(None),
        })
    }
}
