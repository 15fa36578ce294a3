//! Kong's error answers, for every filter: `{"message": ...}` plus `request_id` when the host
//! has one, as `application/json; charset=utf-8`.

use super::context::Action;
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

/// Kong's `fault_tolerant` (rate limiting's, and any filter's that follows Kong's plugins in
/// it): a request whose Redis step failed goes through (fail open), or gets `status` with Kong's
/// body (fail closed). The filter logs the failure itself (`FailureLog::report`).
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

    /// Lets the request through or answers it.
    pub fn answer(&self, host: &dyn FilterHost, filter: &str) -> Action {
        if self.fail_open {
            Action::Continue
        } else {
            kong_error(host, filter, self.status, self.message, &[])
        }
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
        assert_eq!(open.answer(&host, "f"), Action::Continue);
        assert!(host.local_response.borrow().is_none());
        let closed = OnRedisFailure::kong(false);
        assert_eq!(closed.answer(&host, "f"), Action::Pause);
        assert!(
            host.logs.borrow().is_empty(),
            "the filter logs, not the answer"
        );
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
