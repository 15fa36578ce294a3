//! What one configured use of the filter shares between its root context and its requests: the
//! config, the host and Redis (real, or mocks in unit tests), the root's id (writes belong to
//! the root), metrics and the failure log.

use crate::config::Config;
use crate::store::{self, Keys};
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::Step as _;
use redis_filter_core::transport::Submitted;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub const NAME: &str = "redis-proxy-cache";

/// What happened to a request, counted by the host's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Hit,
    Miss,
    Refresh,
    Bypass,
    Stored,
    RedisError,
    /// Served the entry another request fetched (coalescing).
    Coalesced,
    /// Served a stale entry (`stale-while-revalidate`, `stale-if-error`).
    Stale,
    /// `memory`: a response not kept because the entries' byte budget was spent (`memory`).
    NotKept,
    /// `memory`: a live entry gave way to a new one in the full table (`memory`).
    Evicted,
}

pub struct Metrics([Option<u32>; 10]);

impl Metrics {
    fn define(host: &dyn FilterHost) -> Self {
        let names = [
            "hit",
            "miss",
            "refresh",
            "bypass",
            "stored",
            "redis_errors",
            "coalesced",
            "stale",
            "not_kept",
            "evictions",
        ];
        Self(names.map(|n| host.counter(&format!("redis_proxy_cache.{n}"))))
    }
}

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
    pub client: Option<Rc<dyn RedisSubmit>>,
    /// The root context: writes are its work (they outlive the request, and in Kong's engine
    /// they leave from its `on_tick`, a phase that may dispatch).
    pub root_id: u32,
    pub metrics: Metrics,
    pub failure_log: FailureLog,
    /// Whether the host has Kong's `kong.route_id` property (learnt on the first request).
    pub kong_properties: Cell<Option<bool>>,
    /// Requests waiting for another one fetching their entry, where any callback may resume
    /// any request (Envoy): the root looks their entries up again on each tick, and at once
    /// when one of its own writes lands.
    pub waiting: RefCell<Vec<(u32, Keys)>>,
    /// Kong's engine's newline after a local body could not be taken back here (a cut the
    /// host refused, or a body chunk not the size sent plus one): from then on this worker
    /// sends requests for non-empty entries upstream (`Bypass`) rather than alter bytes.
    pub newline_stays: Cell<bool>,
}

/// The Redis work of a request, each with its continuation in `CacheRequest::on_redis`. A
/// coalescing lookup may also be submitted by the root on a waiting request's behalf
/// (`poll_waiters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Fetch,
    Purge,
    Lookup,
    Wait,
    Revalidate,
}

impl redis_filter_core::proxy::Step for Step {
    const ALL: &'static [Self] = &[
        Step::Fetch,
        Step::Purge,
        Step::Lookup,
        Step::Wait,
        Step::Revalidate,
    ];
}

/// The root's Redis work, submitted by requests on its behalf: an entry's write, and a lock
/// given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootStep {
    Write,
    Release,
}

impl redis_filter_core::proxy::Step for RootStep {
    const ALL: &'static [Self] = &[RootStep::Write, RootStep::Release];
}

impl Filter {
    pub fn with_host(
        config: Config,
        host: Rc<dyn FilterHost>,
        client: Option<Rc<dyn RedisSubmit>>,
        root_id: u32,
    ) -> Self {
        Self {
            metrics: Metrics::define(host.as_ref()),
            config,
            host,
            client,
            root_id,
            failure_log: FailureLog::default(),
            kong_properties: Cell::new(None),
            waiting: RefCell::new(Vec::new()),
            newline_stays: Cell::new(false),
        }
    }

    pub fn count(&self, what: Counted) {
        let id = self.metrics.0.get(what as usize).copied().flatten();
        if let Some(id) = id {
            self.host.increment(id, 1);
        }
    }

    /// Looks up again the entry of every waiting request, each for that request (its answer
    /// resumes it: a Hit, or upstream when the fetcher gave up or its wait ran out).
    pub fn poll_waiters(&self) {
        let (Some(client), Some(ms)) = (&self.client, self.config.coalesce_wait_ms()) else {
            return;
        };
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        let max = self.config.redis.max_redirections();
        for (context, keys) in waiting {
            let job = store::lookup_job(&keys, ms, max);
            if let Submitted::Done(_) = client.submit(context, Step::Lookup.code(), Box::new(job)) {
                // Failed at once (Redis marked down): try again on the next tick.
                self.waiting.borrow_mut().push((context, keys));
            }
        }
    }

    /// A request that stops waiting (it went away).
    pub fn forget_waiter(&self, context: u32) {
        self.waiting.borrow_mut().retain(|(c, _)| *c != context);
    }

    /// A storage failure: counted, logged at most once a second (Kong logs each).
    pub fn redis_failed(&self, line: &str) {
        self.count(Counted::RedisError);
        self.failure_log.report(self.host.as_ref(), line);
    }

    /// The route part of the key's prefix and of the Redis key: the config's `route_id`, else
    /// Kong's `kong.route_id`, else none.
    pub fn route_id(&self) -> Option<String> {
        if let Some(id) = &self.config.route_id {
            return Some(id.clone());
        }
        if self.kong_properties.get() == Some(false) {
            return None;
        }
        let id = self.host.property(&["kong", "route_id"]);
        self.kong_properties.set(Some(id.is_some()));
        id
    }
}
