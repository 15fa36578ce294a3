//! What one tunnelled call asks (from its headers), and how a failed call is answered the way
//! Envoy's tunnel answers it, so a filter reads the same failure whichever serves the call.

use crate::pool::TunnelError;
use crate::tls::TlsWanted;
use std::time::Duration;

/// The node, TLS and time budget of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelAsk {
    /// `host:port` of the Redis node (`:authority`).
    pub node: String,
    pub tls: Option<TlsWanted>,
    pub timeout: Duration,
}

impl TunnelAsk {
    /// From the call's headers (`header(name)`) and the host's timeout (zero: none given, a
    /// minute). The filter's own budget, `x-redis-timeout` in ms, bounds it too: on Kong the
    /// filter gives the host a longer timeout (a last resort) and counts on the tunnel to answer
    /// at its own.
    pub fn from_headers(header: impl Fn(&str) -> Option<String>, timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            timeout
        };
        let timeout = header("x-redis-timeout")
            .and_then(|t| t.parse().ok())
            .map_or(timeout, |ms| timeout.min(Duration::from_millis(ms)));
        Self {
            node: header(":authority").unwrap_or_default(),
            tls: TlsWanted::from_headers(
                header("x-redis-tls").as_deref(),
                header("x-redis-server-name").as_deref(),
            ),
            timeout,
        }
    }
}

impl TunnelError {
    /// The status and body Envoy's tunnel answers this failure with: its async client's local
    /// replies for a timeout (504) or a lost connection (503), the 502 of a TLS failure and the
    /// 400 of a body that is not RESP, each with why.
    pub fn envoy_answer(&self) -> (u16, Vec<u8>) {
        const RESET: &str =
            "upstream connect error or disconnect/reset before headers. reset reason: ";
        match self {
            TunnelError::Timeout => (504, b"upstream request timeout".to_vec()),
            TunnelError::Connect(_) => (
                503,
                format!("{RESET}remote connection failure").into_bytes(),
            ),
            TunnelError::Broken(_) => (503, format!("{RESET}connection termination").into_bytes()),
            TunnelError::Tls(m) => (502, m.clone().into_bytes()),
            TunnelError::BadRequest(m) => (400, m.clone().into_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_budget_bounds_the_hosts() {
        let headers = |name: &str| match name {
            ":authority" => Some("10.0.0.1:6380".to_string()),
            "x-redis-timeout" => Some("250".to_string()),
            "x-redis-tls" => Some("verify".to_string()),
            _ => None,
        };
        let ask = TunnelAsk::from_headers(headers, Duration::from_secs(2));
        assert_eq!(ask.node, "10.0.0.1:6380");
        assert_eq!(ask.timeout, Duration::from_millis(250));
        assert_eq!(
            ask.tls,
            Some(TlsWanted {
                verify: true,
                server_name: None
            })
        );
        let plain = TunnelAsk::from_headers(|_| None, Duration::ZERO);
        assert_eq!((plain.timeout, plain.tls), (Duration::from_secs(60), None));
    }

    #[test]
    fn failures_read_as_envoys_tunnel_answers_them() {
        assert_eq!(TunnelError::Timeout.envoy_answer().0, 504);
        assert_eq!(TunnelError::Connect("refused".into()).envoy_answer().0, 503);
        let (status, body) = TunnelError::Tls("tls handshake failed".into()).envoy_answer();
        assert_eq!((status, body), (502, b"tls handshake failed".to_vec()));
    }
}
