//! Who a request counts against, as Kong's `get_identifier` decides.

use crate::config::{Config, LimitBy};

/// What the filter knows of a request (read from headers and host properties).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// The authenticated consumer's id (handed over by an authentication filter).
    pub consumer_id: Option<String>,
    /// `X-Credential-Identifier`.
    pub credential_id: Option<String>,
    /// The client address, without the port.
    pub client_ip: String,
    pub service_id: Option<String>,
    /// The value of `config.header_name`.
    pub header: Option<String>,
    /// The request path without the query string.
    pub path: String,
}

/// The identifier; a missing one falls back to the client IP, as in Kong.
pub fn identifier(config: &Config, req: &RequestInfo) -> String {
    let non_empty = |v: &Option<String>| v.as_ref().filter(|s| !s.is_empty()).cloned();
    let found = match config.limit_by {
        LimitBy::Consumer => non_empty(&req.consumer_id).or_else(|| non_empty(&req.credential_id)),
        LimitBy::Credential => non_empty(&req.credential_id),
        LimitBy::Service => non_empty(&req.service_id),
        LimitBy::Header => non_empty(&req.header),
        LimitBy::Path => config.path.as_ref().filter(|p| **p == req.path).cloned(),
        LimitBy::Ip => None,
    };
    found.unwrap_or_else(|| req.client_ip.clone())
}

/// `ip:port`, `[v6]:port` or a bare address, to the address alone.
pub fn strip_port(addr: &str) -> String {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match addr.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            ip.to_string()
        }
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::parse(format!(r#"{{"minute": 1 {extra}}}"#).as_bytes()).unwrap()
    }

    fn req() -> RequestInfo {
        RequestInfo {
            consumer_id: Some("c-1".into()),
            credential_id: Some("cred-1".into()),
            client_ip: "10.0.0.9".into(),
            service_id: Some("svc".into()),
            header: Some("tenant-a".into()),
            path: "/api/x".into(),
        }
    }

    #[test]
    fn consumer_then_credential_then_ip() {
        let c = config("");
        assert_eq!(identifier(&c, &req()), "c-1");
        let r = RequestInfo {
            consumer_id: None,
            ..req()
        };
        assert_eq!(identifier(&c, &r), "cred-1");
        let r = RequestInfo {
            consumer_id: None,
            credential_id: None,
            ..req()
        };
        assert_eq!(identifier(&c, &r), "10.0.0.9");
    }

    #[test]
    fn each_limit_by() {
        assert_eq!(
            identifier(&config(r#","limit_by":"credential""#), &req()),
            "cred-1"
        );
        assert_eq!(
            identifier(&config(r#","limit_by":"ip""#), &req()),
            "10.0.0.9"
        );
        assert_eq!(
            identifier(&config(r#","limit_by":"service""#), &req()),
            "svc"
        );
        assert_eq!(
            identifier(
                &config(r#","limit_by":"header","header_name":"x-tenant""#),
                &req()
            ),
            "tenant-a"
        );
        assert_eq!(
            identifier(&config(r#","limit_by":"path","path":"/api/x""#), &req()),
            "/api/x"
        );
        assert_eq!(
            identifier(&config(r#","limit_by":"path","path":"/other""#), &req()),
            "10.0.0.9"
        );
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("127.0.0.1:5555"), "127.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("10.1.1.1"), "10.1.1.1");
    }
}
