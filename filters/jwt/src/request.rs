//! The HTTP context, Kong's jwt flow: the client's copies of the consumer headers are removed;
//! a valid token authenticates the request (Kong's upstream headers, the consumer handed to the
//! filters after this one); otherwise Kong's 401, or with `anonymous` the anonymous consumer.

use crate::config::{Config, Consumer, Credential};
use crate::token::{self, Found};
use redis_filter_core::filter_host::{FilterHost, LogLevel};
use redis_filter_core::identity;
use redis_filter_core::proxy::respond;
use redis_filter_core::proxy::{Action, HttpContext};
use serde_json::Value;
use std::rc::Rc;

pub const NAME: &str = "redis-jwt";

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
}

pub struct Filter {
    pub config: Config,
    pub host: Rc<dyn FilterHost>,
}

pub struct JwtRequest {
    filter: Rc<Filter>,
}

impl JwtRequest {
    pub fn new(filter: Rc<Filter>) -> Self {
        Self { filter }
    }

    /// Kong's `do_authentication`.
    fn authenticate(&self, now_s: f64) -> Result<(&Consumer, &Credential), Refusal> {
        let config = &self.filter.config;
        let host = self.filter.host.as_ref();
        let path = host.request_header(":path").unwrap_or_default();
        let message = |m: &str| Refusal::Message(m.to_string(), true);
        let token = match token::retrieve(&config.places, &path, |h| host.request_header(h)) {
            Found::None => return Err(Refusal::Message("Unauthorized".into(), false)),
            Found::Many => return Err(message("Multiple tokens provided")),
            Found::One(t) => t,
        };
        let jwt = token::decode(&token).map_err(|e| message(&format!("Bad token; {e}")))?;
        let claim = &config.key_claim_name;
        let key = match jwt.key(claim) {
            None => return Err(message(&format!("No mandatory '{claim}' in claims"))),
            Some(k) if k.is_empty() => {
                return Err(message(&format!("Invalid '{claim}' in claims")))
            }
            Some(k) => k,
        };
        let (consumer, credential) = config
            .credential(&key)
            .ok_or_else(|| message(&format!("No credentials found for given '{claim}'")))?;
        if jwt.alg() != credential.algorithm {
            return Err(message("Invalid algorithm"));
        }
        if !verify(config, credential, &jwt)? {
            return Err(message("Invalid signature"));
        }
        let errors = jwt.claim_errors(&config.claims_to_verify, now_s);
        if !errors.is_empty() {
            return Err(Refusal::Claims(errors));
        }
        if config.maximum_expiration > 0.0 && jwt.exceeds(config.maximum_expiration, now_s) {
            let mut errors = serde_json::Map::new();
            errors.insert("exp".into(), "exceeds maximum allowed expiration".into());
            return Err(Refusal::Claims(errors));
        }
        Ok((consumer, credential))
    }

    /// Kong's `set_consumer`: the upstream headers, and the consumer handed on (not the
    /// anonymous one, which has no credential).
    fn set_consumer(&self, consumer: &Consumer, credential: Option<&Credential>) {
        let host = self.filter.host.as_ref();
        host.set_request_header("x-consumer-id", Some(&consumer.id));
        host.set_request_header("x-consumer-custom-id", consumer.custom_id.as_deref());
        host.set_request_header("x-consumer-username", consumer.username.as_deref());
        match credential {
            Some(credential) => {
                host.set_request_header("x-credential-identifier", Some(&credential.key));
                host.set_request_header("x-anonymous-consumer", None);
                let handed = identity::Consumer {
                    id: consumer.id.clone(),
                    custom_id: consumer.custom_id.clone(),
                    username: consumer.username.clone(),
                    credential: Some(credential.key.clone()),
                    groups: Vec::new(),
                };
                if let Err(e) = identity::hand_over(host, &handed) {
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

/// The token's signature under the credential: HS* with its secret (base64 when
/// `secret_is_base64`), the others with its public key. No secret or key: "Invalid key/secret".
/// A signature of the wrong length is simply invalid (Kong answers 500 there).
fn verify(config: &Config, credential: &Credential, jwt: &token::Jwt) -> Result<bool, Refusal> {
    let invalid = || Refusal::Message("Invalid key/secret".into(), true);
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
    Ok(key.verify(jwt.signing_input().as_bytes(), jwt.signature()))
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
        let now_s = host.now_ms() as f64 / 1000.0;
        let now_s = now_s.floor();
        match (self.authenticate(now_s), &config.anonymous) {
            (Ok((consumer, credential)), _) => {
                self.set_consumer(consumer, Some(credential));
                Action::Continue
            }
            (Err(_), Some(anonymous)) => match config.consumer(anonymous) {
                Some(consumer) => {
                    self.set_consumer(consumer, None);
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
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
