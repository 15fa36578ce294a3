//! proxy-cache as a `Feature` (what its root does): the config parsed once with its Redis
//! client, the writes of what responses taught it, and the waiters it polls from its tick.

use crate::config::{Config, Strategy};
use crate::filter::{Filter, RootStep, NAME};
use crate::request::{written, CacheRequest};
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::proxy::{Feature, HttpContext, RedisClient, Step};
use redis_filter_core::Outcome;
use std::rc::Rc;

const TICK_MS: u32 = 50;

impl Feature for Filter {
    const NAME: &'static str = NAME;

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        let client: Option<Rc<dyn RedisSubmit>> = match config.strategy {
            Strategy::Redis => Some(RedisClient::new(root_id, &config.redis)?),
            Strategy::Memory => None,
        };
        Ok(Filter::with_host(config, host, client, root_id))
    }

    fn tick_ms(&self) -> u32 {
        TICK_MS
    }

    fn on_tick(filter: &Rc<Self>, _root_id: u32) {
        filter.poll_waiters();
    }

    fn on_redis(filter: &Rc<Self>, tag: u32, outcome: Outcome) {
        match (RootStep::from_code(tag), outcome) {
            (Some(RootStep::Write), outcome) => {
                written(filter, outcome);
                filter.poll_waiters();
            }
            (Some(RootStep::Release), Err(e)) => {
                filter.redis_failed(&format!("[proxy-cache] lock release: {e}"))
            }
            (Some(RootStep::Release), Ok(_)) | (None, _) => {}
        }
    }

    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(CacheRequest::new(context_id, filter.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::filter_host::MockHost;
    use redis_filter_core::proxy::{Action, FeatureRoot, RootContext};

    #[test]
    fn a_bad_config_is_refused_or_answered_with_500_where_refusing_is_fatal() {
        let host = Rc::new(MockHost::default());
        let mut r = FeatureRoot::<Filter>::with_host(1, host.clone());
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
