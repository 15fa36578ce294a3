//! The HTTP context, Kong's jwt flow: the client's copies of the consumer headers are removed;
//! a valid token authenticates the request (Kong's upstream headers, the consumer handed to the
//! filters after this one); otherwise Kong's 401, or with `anonymous` the anonymous consumer.
//! A credential not in the config is looked up in Redis when `credentials_in_redis` is set
//! (`store`): the request waits for that one `GET` unless this worker's cache knows the key.

use crate::config::{Config, Consumer, Credential};
use crate::store::{self, Cache, Known};
use crate::token::{self, Found, Jwt};
use crate::verified::Verified;
use redis_filter_core::failure_log::FailureLog;
use redis_filter_core::filter_host::{FilterHost, LogLevel, RedisSubmit};
use redis_filter_core::proxy::respond;
use redis_filter_core::proxy::Step as _;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::{identity, Outcome};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

pub const NAME: &str = "redis-jwt";
/// The Redis work of a request: its credential, when credentials are kept in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Lookup,
}

impl redis_filter_core::proxy::Step for Step {
    const ALL: &'static [Self] = &[Step::Lookup];
}

/// The upstream headers Kong's auth plugins set: a client's own copies never go through.
const CONSUMER_HEADERS: &[&str] = &[
    "x-consumer-id",
    "x-consumer-custom-id",
    "x-consumer-username",
    "x-credential-identifier",
    "x-anonymous-consumer",
];

/// Why a request is not authenticated: Kong's body (a message or the claims' errors).
#[derive(Debug, PartialEq)]
pub enum Refusal {
    Message(String, bool),
    Claims(serde_json::Map<String, Value>),
    /// Kong's 500 (the credential could not be read).
    Unexpected(String),
}

fn message(m: &str) -> Refusal {
    Refusal::Message(m.to_string(), true)
}

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
    /// The Redis client, with `credentials_in_redis`.
    pub client: Option<Rc<dyn RedisSubmit>>,
    pub cache: RefCell<Cache>,
    /// Public-key signatures already checked (`verified`).
    pub verified: RefCell<Verified>,
    pub failure_log: FailureLog,
}

/// A token waiting for its credential from Redis.
struct Waiting {
    jwt: Jwt,
    key: String,
    /// When the request came (its claims are checked against that time).
    now_ms: u64,
    stale: Option<Option<Rc<Consumer>>>,
}

pub struct JwtRequest {
    id: u32,
    filter: Rc<Filter>,
    waiting: Option<Waiting>,
}

/// Where the credential of a key is.
enum Located {
    Here(Result<identity::Consumer, Refusal>),
    InRedis(Waiting),
}

impl JwtRequest {
    pub fn new(id: u32, filter: Rc<Filter>) -> Self {
        Self {
            id,
            filter,
            waiting: None,
        }
    }

    /// Kong's `do_authentication` up to the credential: the token, decoded, and its key.
    fn locate(&self, now_ms: u64) -> Located {
        let config = &self.filter.config;
        let host = self.filter.host.as_ref();
        let path = host.request_header(":path").unwrap_or_default();
        let token = match token::retrieve(&config.places, &path, |h| host.request_header(h)) {
            Found::None => {
                return Located::Here(Err(Refusal::Message("Unauthorized".into(), false)))
            }
            Found::Many => return Located::Here(Err(message("Multiple tokens provided"))),
            Found::One(t) => t,
        };
        let jwt = match token::decode(&token) {
            Ok(jwt) => jwt,
            Err(e) => return Located::Here(Err(message(&format!("Bad token; {e}")))),
        };
        let claim = &config.key_claim_name;
        let key = match jwt.key(claim) {
            None => {
                let m = format!("No mandatory '{claim}' in claims");
                return Located::Here(Err(message(&m)));
            }
            Some(k) if k.is_empty() => {
                return Located::Here(Err(message(&format!("Invalid '{claim}' in claims"))))
            }
            Some(k) => k,
        };
        if let Some(consumer) = config.holder(&key) {
            return Located::Here(check(&self.filter, consumer, &key, &jwt, now_ms));
        }
        if config.redis_store.is_none() || self.filter.client.is_none() {
            return Located::Here(Err(no_credentials(config)));
        }
        let known = self.filter.cache.borrow().get(&key, now_ms);
        let stale = match known {
            Known::Fresh(consumer) => {
                return Located::Here(self.check_stored(consumer.as_deref(), &key, &jwt, now_ms))
            }
            Known::Stale(consumer) => Some(consumer),
            Known::Unknown => None,
        };
        Located::InRedis(Waiting {
            jwt,
            key,
            now_ms,
            stale,
        })
    }

    fn check_stored(
        &self,
        consumer: Option<&Consumer>,
        key: &str,
        jwt: &Jwt,
        now_ms: u64,
    ) -> Result<identity::Consumer, Refusal> {
        match consumer {
            Some(consumer) => check(&self.filter, consumer, key, jwt, now_ms),
            None => Err(no_credentials(&self.filter.config)),
        }
    }

    /// The `GET` of the waiting token's credential.
    fn look_up(&mut self, waiting: Waiting) -> Action {
        let filter = self.filter.clone();
        let (Some(store), Some(client)) = (&filter.config.redis_store, &filter.client) else {
            return Action::Continue;
        };
        let redis_key = format!("{}{}", store.prefix, waiting.key);
        let job = store::lookup_job(&redis_key, store.redis.max_redirections());
        self.waiting = Some(waiting);
        match client.submit(self.id, Step::Lookup.code(), Box::new(job)) {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.on_lookup(outcome),
        }
    }

    fn on_lookup(&mut self, outcome: Outcome) -> Action {
        let Some(waiting) = self.waiting.take() else {
            return Action::Continue;
        };
        let filter = self.filter.clone();
        let host = filter.host.as_ref();
        let Some(store) = &filter.config.redis_store else {
            return Action::Continue;
        };
        let now_ms = host.now_ms();
        let result = match store::parse_reply(outcome, &waiting.key) {
            Ok(consumer) => {
                let ttl = match consumer {
                    Some(_) => store.cache_ttl_ms,
                    None => store.negative_ttl_ms,
                };
                let consumer = consumer.map(Rc::new);
                filter
                    .cache
                    .borrow_mut()
                    .put(&waiting.key, consumer.clone(), ttl, now_ms);
                self.check_stored(
                    consumer.as_deref(),
                    &waiting.key,
                    &waiting.jwt,
                    waiting.now_ms,
                )
            }
            Err(e) => {
                let line = format!("[jwt] credential {:?}: {e}", waiting.key);
                filter.failure_log.report(host, &line);
                match &waiting.stale {
                    Some(consumer) => self.check_stored(
                        consumer.as_deref(),
                        &waiting.key,
                        &waiting.jwt,
                        waiting.now_ms,
                    ),
                    None => Err(Refusal::Unexpected(e)),
                }
            }
        };
        self.conclude(result)
    }

    /// The outcome: the consumer set, the anonymous one, or Kong's refusal.
    fn conclude(&self, result: Result<identity::Consumer, Refusal>) -> Action {
        let filter = self.filter.clone();
        let host = filter.host.as_ref();
        let config = &filter.config;
        match (result, &config.anonymous) {
            (Ok(consumer), _) => {
                self.set_consumer(&consumer);
                Action::Continue
            }
            (Err(Refusal::Unexpected(_)), _) => {
                respond::kong_error(host, NAME, 500, "An unexpected error occurred", &[])
            }
            (Err(_), Some(anonymous)) => match config.consumer(anonymous) {
                Some(consumer) => {
                    self.set_consumer(&handed(consumer, None));
                    Action::Continue
                }
                None => {
                    let message =
                        format!("anonymous consumer {anonymous} is configured but doesn't exist");
                    host.log(LogLevel::Error, &message);
                    respond::kong_error(host, NAME, 500, &message, &[])
                }
            },
            (Err(refusal), None) => self.refuse(refusal),
        }
    }

    /// Kong's `set_consumer`: the upstream headers, and the consumer handed on (not the
    /// anonymous one, which has no credential).
    fn set_consumer(&self, consumer: &identity::Consumer) {
        let host = self.filter.host.as_ref();
        host.set_request_header("x-consumer-id", Some(&consumer.id));
        host.set_request_header("x-consumer-custom-id", consumer.custom_id.as_deref());
        host.set_request_header("x-consumer-username", consumer.username.as_deref());
        match &consumer.credential {
            Some(credential) => {
                host.set_request_header("x-credential-identifier", Some(credential));
                host.set_request_header("x-anonymous-consumer", None);
                if let Err(e) = identity::hand_over(host, consumer) {
                    host.log(LogLevel::Warn, &format!("[jwt] {e}"));
                }
            }
            None => {
                host.set_request_header("x-credential-identifier", None);
                host.set_request_header("x-anonymous-consumer", Some("true"));
            }
        }
    }

    fn refuse(&self, refusal: Refusal) -> Action {
        let host = self.filter.host.as_ref();
        let realm = self.filter.config.realm.as_deref();
        let base = match realm {
            Some(r) => format!("Bearer realm=\"{r}\""),
            None => "Bearer".to_string(),
        };
        let with_error = match realm {
            Some(_) => format!("{base}, error=\"invalid_token\""),
            None => "Bearer error=\"invalid_token\"".to_string(),
        };
        let (body, www) = match refusal {
            Refusal::Message(m, invalid) => {
                let www = if invalid { with_error } else { base };
                (serde_json::json!({ "message": m }), www)
            }
            Refusal::Claims(errors) => (Value::Object(errors), with_error),
            Refusal::Unexpected(m) => (serde_json::json!({ "message": m }), with_error),
        };
        let headers = [
            ("WWW-Authenticate", www.as_str()),
            ("Content-Type", "application/json; charset=utf-8"),
        ];
        if host.send_response(401, &headers, body.to_string().as_bytes()) {
            return Action::Pause;
        }
        Action::Continue
    }
}

fn no_credentials(config: &Config) -> Refusal {
    let claim = &config.key_claim_name;
    message(&format!("No credentials found for given '{claim}'"))
}

fn handed(consumer: &Consumer, credential: Option<&Credential>) -> identity::Consumer {
    identity::Consumer {
        id: consumer.id.clone(),
        custom_id: consumer.custom_id.clone(),
        username: consumer.username.clone(),
        credential: credential.map(|c| c.key.clone()),
        groups: Vec::new(),
    }
}

/// Kong's checks once the credential is known: its algorithm, the signature, the claims. A
/// consumer may hold two credentials of the key (a rotation): either one's signature counts.
fn check(
    filter: &Filter,
    consumer: &Consumer,
    key: &str,
    jwt: &Jwt,
    now_ms: u64,
) -> Result<identity::Consumer, Refusal> {
    let mut candidates = consumer
        .credentials
        .iter()
        .filter(|c| c.key == key)
        .filter(|c| c.algorithm == jwt.alg())
        .peekable();
    if candidates.peek().is_none() {
        return Err(message("Invalid algorithm"));
    }
    let config = &filter.config;
    // Kong compares the claims with whole seconds.
    let now_s = (now_ms / 1000) as f64;
    let mut refusal = message("Invalid signature");
    let mut verified = None;
    for credential in candidates {
        match verify(config, credential, jwt, &filter.verified, now_ms) {
            Ok(true) => {
                verified = Some(credential);
                break;
            }
            Ok(false) => refusal = message("Invalid signature"),
            Err(e) => refusal = e,
        }
    }
    let credential = verified.ok_or(refusal)?;
    let errors = jwt.claim_errors(&config.claims_to_verify, now_s);
    if !errors.is_empty() {
        return Err(Refusal::Claims(errors));
    }
    if config.maximum_expiration > 0.0 && jwt.exceeds(config.maximum_expiration, now_s) {
        let mut errors = serde_json::Map::new();
        errors.insert("exp".into(), "exceeds maximum allowed expiration".into());
        return Err(Refusal::Claims(errors));
    }
    Ok(handed(consumer, Some(credential)))
}

/// The token's signature under the credential: HS* with its secret (base64 when
/// `secret_is_base64`), the others with its public key. No secret or key: "Invalid key/secret".
/// A signature of the wrong length is simply invalid (Kong answers 500 there).
fn verify(
    config: &Config,
    credential: &Credential,
    jwt: &Jwt,
    verified: &RefCell<Verified>,
    now_ms: u64,
) -> Result<bool, Refusal> {
    let invalid = || message("Invalid key/secret");
    if credential.algorithm.starts_with("HS") {
        let secret = if config.secret_is_base64 {
            token::base64_decode(&credential.secret)
        } else {
            Some(credential.secret.as_bytes().to_vec())
        };
        let secret = secret.filter(|s| !s.is_empty()).ok_or_else(invalid)?;
        return Ok(jwt.verify_hmac(&secret));
    }
    let key = credential.public_key.as_ref().ok_or_else(invalid)?;
    let (input, signature) = (jwt.signing_input(), jwt.signature());
    if verified.borrow().knows(input, signature, key, now_ms) {
        return Ok(true);
    }
    let ok = key.verify(input.as_bytes(), signature);
    if ok {
        verified
            .borrow_mut()
            .remember(input, signature, key, now_ms);
    }
    Ok(ok)
}

impl HttpContext for JwtRequest {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let filter = self.filter.clone();
        let host = filter.host.as_ref();
        let config = &filter.config;
        let method = host.request_header(":method").unwrap_or_default();
        if !config.run_on_preflight && method == "OPTIONS" {
            return Action::Continue;
        }
        if config.anonymous.is_some() && identity::handed(host).is_some() {
            // Kong's logical OR: an authentication filter before this one already succeeded.
            return Action::Continue;
        }
        for name in CONSUMER_HEADERS {
            host.set_request_header(name, None);
        }
        match self.locate(host.now_ms()) {
            Located::Here(result) => self.conclude(result),
            Located::InRedis(waiting) => self.look_up(waiting),
        }
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        match Step::from_code(tag) {
            Some(Step::Lookup) => self.on_lookup(outcome),
            // Not a step of this filter's: nothing of this request waits on it.
            None => Action::Continue,
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
