//! What one configured use of the filter shares between its root context and its requests.

use crate::config::Config;
use crate::cookie;
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use std::rc::Rc;

pub const NAME: &str = "redis-session";

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
    /// None with `storage: cookie`.
    pub client: Option<Rc<dyn RedisSubmit>>,
    /// The root: sessions learnt in the response phase are its writes (Kong's engine sends
    /// them from its tick).
    pub root_id: u32,
    /// The cookie's MAC key.
    pub key: Vec<u8>,
    pub failure_log: FailureLog,
    redis_errors: Option<u32>,
}

impl Filter {
    pub fn with_host(
        config: Config,
        host: Rc<dyn FilterHost>,
        client: Option<Rc<dyn RedisSubmit>>,
        root_id: u32,
    ) -> Self {
        Self {
            key: cookie::key(&config),
            redis_errors: host.counter("redis_session.redis_errors"),
            config,
            host,
            client,
            root_id,
            failure_log: FailureLog::default(),
        }
    }

    /// A Redis failure: counted, logged at most once a second.
    pub fn redis_failed(&self, line: &str) {
        if let Some(id) = self.redis_errors {
            self.host.increment(id, 1);
        }
        self.failure_log.report(self.host.as_ref(), line);
    }
}
