//! Kong's error answers, for every filter: `{"message": ...}` plus `request_id` when the host
//! has one, as `application/json; charset=utf-8`.

use super::context::{Action, HttpContext};
use crate::filter_host::{FilterHost, LogLevel};

/// The body Kong sends with an error status.
pub fn kong_error_body(message: &str, request_id: Option<&str>) -> String {
    let mut body = serde_json::Map::new();
    body.insert("message".into(), message.into());
    if let Some(id) = request_id {
        body.insert("request_id".into(), id.into());
    }
    serde_json::Value::Object(body).to_string()
}

/// The request's id, when the host has one. On Kong's engine an answer given from a call's
/// answer goes without it (`FilterHost::request_properties_readable`).
fn request_id(host: &dyn FilterHost) -> Option<String> {
    if !host.request_properties_readable() {
        return None;
    }
    host.property(&["request", "id"])
        .or_else(|| host.request_header("x-request-id"))
        .filter(|s| !s.is_empty())
}

/// Answers the running request with Kong's error body and `headers`; `Pause` when the answer
/// was sent (the request goes no further), `Continue` if the host refused it (logged).
pub fn kong_error(
    host: &dyn FilterHost,
    filter: &str,
    status: u32,
    message: &str,
    headers: &[(String, String)],
) -> Action {
    let body = kong_error_body(message, request_id(host).as_deref());
    let mut pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("Content-Type", "application/json; charset=utf-8"));
    if host.send_response(status, &pairs, body.as_bytes()) {
        return Action::Pause;
    }
    host.log(
        LogLevel::Error,
        &format!("{filter}: the host refused the local response"),
    );
    Action::Continue
}

/// What a filter does when its Redis step fails, in one place for every filter: Kong's
/// `fault_tolerant` lets the request through (fail open), otherwise the request gets
/// `status` with Kong's body (fail closed). The failure is logged either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnRedisFailure {
    pub fail_open: bool,
    pub status: u32,
    pub message: &'static str,
}

impl OnRedisFailure {
    /// Kong's plugins: fail open with `fault_tolerant`, else 500 "An unexpected error occurred".
    pub fn kong(fault_tolerant: bool) -> Self {
        Self {
            fail_open: fault_tolerant,
            status: 500,
            message: "An unexpected error occurred",
        }
    }

    /// Logs `line` and lets the request through or answers it.
    pub fn failed(&self, host: &dyn FilterHost, filter: &str, line: &str) -> Action {
        host.log(LogLevel::Error, line);
        self.quiet(host, filter)
    }

    /// `failed` without a log line (one was logged for this run of failures already).
    pub fn quiet(&self, host: &dyn FilterHost, filter: &str) -> Action {
        if self.fail_open {
            Action::Continue
        } else {
            kong_error(host, filter, self.status, self.message, &[])
        }
    }
}

/// What a root does with the filter it built from its config (`on_configure`'s answer): a
/// built filter replaces the old one and the root ticks every `tick_ms`; a refused config is
/// logged once with its field and refused, or, where refusing would take the worker down
/// (Kong's engine), accepted with `refused` set so every request gets Kong's 500.
pub fn configure<F>(
    host: &dyn FilterHost,
    built: Result<F, String>,
    tick_ms: u32,
    filter: &mut Option<std::rc::Rc<F>>,
    refused: &mut bool,
) -> bool {
    match built {
        Ok(f) => {
            *refused = false;
            *filter = Some(std::rc::Rc::new(f));
            if !host.set_tick_period_ms(tick_ms) {
                host.log(LogLevel::Warn, &format!("no tick of {tick_ms} ms"));
            }
            true
        }
        Err(e) => {
            *filter = None;
            if host.refusing_config_is_fatal() {
                let line = format!("{e}; every request gets 500 until the config is fixed");
                host.log(LogLevel::Error, &line);
                *refused = true;
                return true;
            }
            host.log(LogLevel::Error, &e);
            false
        }
    }
}

/// The requests of a filter whose config was refused, where refusing it at load would take the
/// worker down: each gets Kong's 500, and the reason was logged once at configure time.
pub struct RefusedConfig {
    pub filter: &'static str,
    pub host: std::rc::Rc<dyn FilterHost>,
}

impl HttpContext for RefusedConfig {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        kong_error(
            self.host.as_ref(),
            self.filter,
            500,
            "An unexpected error occurred",
            &[],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter_host::MockHost;

    #[test]
    fn a_redis_failure_fails_open_or_closed() {
        let host = MockHost::default();
        let open = OnRedisFailure::kong(true);
        let action = open.failed(&host, "f", "failed to get usage: boom");
        assert_eq!(action, Action::Continue);
        assert_eq!(host.logs.borrow()[0].1, "failed to get usage: boom");
        assert!(host.local_response.borrow().is_none());
        let closed = OnRedisFailure::kong(false);
        assert_eq!(closed.quiet(&host, "f"), Action::Pause);
        assert_eq!(host.logs.borrow().len(), 1, "quiet logs nothing");
        let local = host.local_response.borrow();
        let (status, _, body) = local.as_ref().unwrap();
        assert_eq!(*status, 500);
        assert_eq!(body, br#"{"message":"An unexpected error occurred"}"#);
    }

    #[test]
    fn kong_bodies() {
        assert_eq!(
            kong_error_body("API rate limit exceeded", None),
            r#"{"message":"API rate limit exceeded"}"#
        );
        assert_eq!(
            kong_error_body("An unexpected error occurred", Some("abc")),
            r#"{"message":"An unexpected error occurred","request_id":"abc"}"#
        );
    }
}
