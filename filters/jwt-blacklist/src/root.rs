//! The blacklist as a `Feature` (what its root does): the config parsed once with its Redis
//! client, and the answers to revocations it made as responses passed.

use crate::config::Config;
use crate::request::{BlacklistRequest, Filter, NAME};
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::{Feature, HttpContext, RedisClient};
use redis_filter_core::Outcome;
use std::rc::Rc;

const TICK_MS: u32 = 100;

impl Feature for Filter {
    const NAME: &'static str = NAME;

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let config = Config::parse(raw).map_err(|e| e.to_string())?;
        let client = RedisClient::new(root_id, &config.redis)?;
        Ok(Filter {
            config,
            host,
            client,
            failure_log: FailureLog::default(),
            root_id,
        })
    }

    fn tick_ms(&self) -> u32 {
        TICK_MS
    }

    /// A revocation made as a response passed (the filter before redis-jwt): only its failure
    /// is news.
    fn on_redis(filter: &Rc<Self>, _tag: u32, outcome: Outcome) {
        if let Err(e) = crate::revoked::revoked(outcome) {
            filter.redis_failed(&e);
        }
    }

    /// The revocations it writes as responses pass.
    fn root_works(&self) -> bool {
        self.config.revoke_path.is_some()
    }

    /// Only its revocation endpoint asks who the caller is.
    fn reads_handed(&self) -> bool {
        self.config.revoke_path.is_some()
    }

    fn hands_on(&self) -> bool {
        false
    }

    /// A lookup (`EXISTS`), unless revocation or the operators' endpoint is on.
    fn changes_state(&self) -> bool {
        self.config.revoke_path.is_some() || self.config.admin_path.is_some()
    }

    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(BlacklistRequest::new(context_id, filter.clone()))
    }
}
