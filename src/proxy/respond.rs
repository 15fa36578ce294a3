//! Kong's error answers, for every filter: `{"message": ...}` plus `request_id` when the host
//! has one, as `application/json; charset=utf-8`.

use super::context::{Action, HttpContext};
use super::host::{self, HeaderMap, LogLevel};

/// The body Kong sends with an error status.
pub fn kong_error_body(message: &str, request_id: Option<&str>) -> String {
    let mut body = serde_json::Map::new();
    body.insert("message".into(), message.into());
    if let Some(id) = request_id {
        body.insert("request_id".into(), id.into());
    }
    serde_json::Value::Object(body).to_string()
}

fn request_id() -> Option<String> {
    let found = host::property(&["request", "id"])
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .or_else(|| {
            host::header(HeaderMap::RequestHeaders, "x-request-id")
                .ok()
                .flatten()
        });
    found.filter(|s| !s.is_empty())
}

/// Answers the running request with Kong's error body and `headers`; `Pause` when the answer
/// was sent (the request goes no further), `Continue` if the host refused it (logged).
pub fn kong_error(
    filter: &str,
    status: u32,
    message: &str,
    headers: &[(String, String)],
) -> Action {
    let body = kong_error_body(message, request_id().as_deref());
    let mut pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push(("Content-Type", "application/json; charset=utf-8"));
    match host::send_response(status, &pairs, body.as_bytes()) {
        Ok(()) => Action::Pause,
        Err(s) => {
            host::log(
                LogLevel::Error,
                &format!("{filter}: local response failed (status {})", s.0),
            );
            Action::Continue
        }
    }
}

/// Whether refusing a config in `on_configure` would take the host's worker down. Kong's engine
/// (ngx_wasm_module) exits the worker for good ("fatal code 2") and every location then hangs;
/// it is also the one host known to ignore `proxy_set_effective_context`, which is how it is
/// told apart (see `runtime::affinity`).
pub fn refusing_config_is_fatal() -> bool {
    super::affinity() == crate::transport::Affinity::PerContext
}

/// The requests of a filter whose config was refused, where refusing it at load would take the
/// worker down: each gets Kong's 500, and the reason was logged once at configure time.
pub struct RefusedConfig {
    pub filter: &'static str,
}

impl HttpContext for RefusedConfig {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        kong_error(self.filter, 500, "An unexpected error occurred", &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
