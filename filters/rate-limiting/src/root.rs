//! Rate limiting as a `Feature` (what its root does): the config parsed once with its Redis
//! client, `sync_rate` deltas flushed from the tick.

use crate::config::{Config, Policy};
use crate::filter::Filter;
use crate::request::RateLimit;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::{Feature, HttpContext, RedisClient, Step};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use std::rc::Rc;

/// How often the root wakes: the multiplexer's expiries, and the sync check.
const TICK_MS: u32 = 100;
/// The root's Redis work: a `sync_rate` flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootStep {
    Sync,
}

impl Step for RootStep {
    const ALL: &'static [Self] = &[RootStep::Sync];
}

impl Feature for Filter {
    const NAME: &'static str = "redis-rate-limiting";

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        let client: Option<Rc<dyn RedisSubmit>> = match config.policy {
            Policy::Redis => Some(RedisClient::new(root_id, &config.redis)?),
            Policy::Local => None,
        };
        Ok(Filter::with_host(config, host, client))
    }

    fn tick_ms(&self) -> u32 {
        TICK_MS
    }

    /// `sync_rate`: the counts of this worker go to Redis when their time comes.
    fn on_tick(filter: &Rc<Self>, root_id: u32) {
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
        let submitted = client.submit(root_id, RootStep::Sync.code(), Box::new(job));
        if let Submitted::Done(outcome) = submitted {
            Self::on_redis(filter, RootStep::Sync.code(), outcome);
        }
    }

    fn on_redis(filter: &Rc<Self>, tag: u32, outcome: Outcome) {
        let Some(RootStep::Sync) = RootStep::from_code(tag) else {
            return;
        };
        if let Err(e) = filter.syncer.borrow_mut().done(
            filter.host.shared_data(),
            filter.host.now_ms(),
            outcome,
        ) {
            filter.redis_failed(&e.to_string());
        }
    }

    /// The `sync_rate` keys this worker counted in, for a root that keeps ticking.
    fn hand_over(&self) -> Option<Vec<u8>> {
        self.config.sync_rate?;
        self.syncer.borrow_mut().hand_over()
    }

    fn take_over(filter: &Rc<Self>, work: &[u8]) {
        filter.syncer.borrow_mut().take_over(work);
    }

    fn holds_work(&self) -> bool {
        self.syncer.borrow().holds_work()
    }

    /// With `sync_rate`, its flushes.
    fn root_works(&self) -> bool {
        self.config.sync_rate.is_some() && self.client.is_some()
    }

    /// By consumer or credential: the one an authentication filter before it handed on.
    fn reads_handed(&self) -> bool {
        matches!(
            self.config.limit_by,
            crate::config::LimitBy::Consumer | crate::config::LimitBy::Credential
        )
    }

    fn hands_on(&self) -> bool {
        false
    }

    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(RateLimit::new(context_id, filter.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::filter_host::MockHost;
    use redis_filter_core::proxy::{Action, FeatureRoot, RootContext};

    type Root = FeatureRoot<Filter>;

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
        let filter = r.filter().cloned().unwrap();
        let mut ctx = RateLimit::new(2, filter.clone());
        assert_eq!(
            ctx.on_request_headers(0, true),
            Action::Continue,
            "counted locally"
        );
        // A failed flush: the delta stays pending, logged, counted as a Redis error.
        r.on_redis(
            RootStep::Sync.code(),
            Err(redis_filter_core::RedisError::Timeout),
        );
        assert!(host.logs.borrow().iter().any(|(_, l)| l.contains("sync")));
        assert_eq!(host.metric("redis_rate_limiting.redis_errors"), 1);
    }
}
