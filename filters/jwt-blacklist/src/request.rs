//! The HTTP context: an operator's revocation by `jti`, a client's revocation of its own token,
//! or the lookup that refuses a revoked token.

use crate::config::Config;
use crate::revoked;
use redis_filter_core::filter_host::{FilterHost, RedisSubmit};
use redis_filter_core::hmac::constant_time_eq;
use redis_filter_core::jwt::{self, Found};
use redis_filter_core::proxy::respond;
use redis_filter_core::proxy::Step as _;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::{failure_log::FailureLog, identity, Outcome};
use std::rc::Rc;

pub const NAME: &str = "redis-jwt-blacklist";
/// The Redis work of a request: is the token revoked, or revoke it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Lookup,
    Revoke,
}

impl redis_filter_core::proxy::Step for Step {
    const ALL: &'static [Self] = &[Step::Lookup, Step::Revoke];
}
/// The header an operator's request carries `admin_secret` in.
pub const SECRET_HEADER: &str = "x-blacklist-secret";

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
    pub client: Rc<dyn RedisSubmit>,
    pub failure_log: FailureLog,
    /// Revocations made in a response phase are the root's (Kong's engine sends them on its
    /// next tick).
    pub root_id: u32,
}

impl Filter {
    /// A Redis failure: logged at most once a second.
    pub fn redis_failed(&self, error: &str) {
        let line = format!("[jwt-blacklist] {error}");
        self.failure_log.report(self.host.as_ref(), &line);
    }
}

pub struct BlacklistRequest {
    id: u32,
    filter: Rc<Filter>,
    /// A revocation request seen before any authentication filter (this filter first in the
    /// chain): the Redis key and TTL, revoked as the response passes if one accepted the token.
    revoke_later: Option<(String, u64)>,
}

impl BlacklistRequest {
    pub fn new(id: u32, filter: Rc<Filter>) -> Self {
        Self {
            id,
            filter,
            revoke_later: None,
        }
    }

    fn answer(&self, status: u32, message: &str, invalid_token: bool) -> Action {
        let host = self.filter.host.as_ref();
        let headers: Vec<(String, String)> = if invalid_token {
            vec![(
                "WWW-Authenticate".into(),
                "Bearer error=\"invalid_token\"".into(),
            )]
        } else {
            Vec::new()
        };
        respond::kong_error(host, NAME, status, message, &headers)
    }

    fn submit(&self, step: Step, job: redis_filter_core::job::Pipeline) -> Action {
        match self
            .filter
            .client
            .submit(self.id, step.code(), Box::new(job))
        {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.on_redis_answer(step, outcome),
        }
    }

    /// `<admin_path>/<jti>` with the secret: revokes that id for `admin_ttl` seconds.
    fn operator(&self, jti: &str) -> Action {
        let config = &self.filter.config;
        let given = self
            .filter
            .host
            .request_header(SECRET_HEADER)
            .unwrap_or_default();
        let secret = config.admin_secret.as_deref().unwrap_or("");
        if secret.is_empty() || !constant_time_eq(given.as_bytes(), secret.as_bytes()) {
            return self.answer(401, "Unauthorized", false);
        }
        if jti.is_empty() {
            return self.answer(404, "Not found", false);
        }
        let key = format!("{}{jti}", config.key_prefix);
        let max = config.redis.max_redirections();
        self.submit(
            Step::Revoke,
            revoked::revoke_job(&key, config.admin_ttl, max),
        )
    }

    fn on_redis_answer(&self, step: Step, outcome: Outcome) -> Action {
        match step {
            Step::Revoke => match revoked::revoked(outcome) {
                Ok(()) => self.answer(200, "Token revoked", false),
                Err(e) => self.failed(&e),
            },
            Step::Lookup => match revoked::is_revoked(outcome) {
                Ok(true) => self.answer(401, "Token revoked", true),
                Ok(false) => Action::Continue,
                Err(e) => self.failed(&e),
            },
        }
    }

    /// Redis failed: fail open with `fault_tolerant`, else 503 (a revoked token must not slip
    /// through because Redis is away).
    fn failed(&self, error: &str) -> Action {
        self.filter.redis_failed(error);
        if self.filter.config.fault_tolerant {
            return Action::Continue;
        }
        self.answer(503, "The revocation list is unavailable", false)
    }
}

impl HttpContext for BlacklistRequest {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let filter = self.filter.clone();
        let host = filter.host.as_ref();
        let config = &filter.config;
        let path = host.request_header(":path").unwrap_or_default();
        let method = host.request_header(":method").unwrap_or_default();
        let bare = path.split('?').next().unwrap_or("");
        if let Some(admin) = &config.admin_path {
            if let Some(jti) = bare.strip_prefix(&format!("{admin}/")) {
                if method == "POST" || method == "PUT" {
                    return self.operator(&redis_filter_core::query::unescape(jti));
                }
            }
        }
        let token = match jwt::retrieve(&config.places, &path, |h| host.request_header(h)) {
            Found::One(t) => t,
            // No token, or several: the authentication filter answers that.
            _ => return Action::Continue,
        };
        let decoded = jwt::decode(&token).ok();
        let key = format!(
            "{}{}",
            config.key_prefix,
            revoked::id(decoded.as_ref(), &token)
        );
        let max = config.redis.max_redirections();
        let revoking =
            config.revoke_path.as_deref() == Some(bare) && method == config.revoke_method;
        if !revoking {
            return self.submit(Step::Lookup, revoked::lookup_job(&key, max));
        }
        let now = host.now_ms() / 1000;
        let exp = decoded
            .as_ref()
            .and_then(|j| j.claims.get("exp"))
            .and_then(serde_json::Value::as_f64);
        let ttl = exp.map_or(config.admin_ttl, |e| (e as u64).saturating_sub(now));
        // Only a token an authentication filter accepted is revoked. None has yet: this filter
        // comes first, the request goes on to it (and to the upstream), and the revocation is
        // made as the response passes, if it accepted the token.
        if identity::handed(host).is_none() {
            self.revoke_later = Some((key, ttl));
            return Action::Continue;
        }
        self.submit(Step::Revoke, revoked::revoke_job(&key, ttl, max))
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        let Some((key, ttl)) = self.revoke_later.take() else {
            return Action::Continue;
        };
        let filter = self.filter.clone();
        if identity::handed(filter.host.as_ref()).is_none() {
            return Action::Continue;
        }
        let job = revoked::revoke_job(&key, ttl, filter.config.redis.max_redirections());
        if let Submitted::Done(outcome) =
            filter
                .client
                .submit(filter.root_id, Step::Revoke.code(), Box::new(job))
        {
            if let Err(e) = revoked::revoked(outcome) {
                filter.redis_failed(&e);
            }
        }
        Action::Continue
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        match Step::from_code(tag) {
            Some(step) => self.on_redis_answer(step, outcome),
            // Not a step of this filter's: nothing of this request waits on it.
            None => Action::Continue,
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
