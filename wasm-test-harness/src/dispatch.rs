//! Makes the HTTP calls guests dispatch: to a RESP tunnel (served natively) or to an HTTP
//! upstream, and turns the outcome into what the host profile delivers.

use crate::http_client::HttpClient;
use crate::profile::Profile;
use crate::tls::TlsWanted;
use crate::tunnel::{TunnelError, TunnelPool};
use proxy_wasm_host::abi::v0_2_1::{HttpCall, HttpCallResponse};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts of the calls the harness made for its guests, all workers together.
#[derive(Debug, Default)]
pub struct CallStats {
    pub tunnel_calls: AtomicU64,
    pub http_calls: AtomicU64,
}

pub struct Upstreams {
    pub stats: Arc<CallStats>,
    pub profile: Profile,
    /// Upstream names served as RESP tunnels.
    pub tunnels: Vec<String>,
    /// Envoy cluster names (service names) and their `host:port`.
    pub clusters: HashMap<String, String>,
}

type Pairs = Vec<(Cow<'static, [u8]>, Cow<'static, [u8]>)>;

fn pair(k: &str, v: &str) -> (Cow<'static, [u8]>, Cow<'static, [u8]>) {
    (
        Cow::Owned(k.as_bytes().to_vec()),
        Cow::Owned(v.as_bytes().to_vec()),
    )
}

fn header<'a>(call: &'a HttpCall<'static>, name: &str) -> Option<&'a [u8]> {
    call.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_ref())
}

/// How each host reports a call that got no HTTP answer.
fn failure(profile: Profile, kind: Failure) -> HttpCallResponse<'static> {
    match profile {
        // ngx_wasm_module: no status, the reason in `:dispatch_status`.
        Profile::Kong => {
            let reason = match kind {
                Failure::Timeout => "timeout",
                Failure::Connect | Failure::Reset => "broken connection",
            };
            HttpCallResponse::received(vec![pair(":dispatch_status", reason)])
        }
        // Envoy's async client answers with a local reply.
        Profile::Envoy => {
            let (status, body) = match kind {
                Failure::Timeout => ("504", "upstream request timeout"),
                Failure::Connect => ("503", "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"),
                Failure::Reset => ("503", "upstream connect error or disconnect/reset before headers. reset reason: connection termination"),
            };
            HttpCallResponse::received(vec![
                pair(":status", status),
                pair("content-type", "text/plain"),
            ])
            .with_body(body.as_bytes().to_vec())
        }
    }
}

#[derive(Clone, Copy)]
enum Failure {
    Timeout,
    Connect,
    Reset,
}

impl Upstreams {
    pub async fn perform(
        &self,
        call: &HttpCall<'static>,
        tunnel: &TunnelPool,
        client: &HttpClient,
    ) -> HttpCallResponse<'static> {
        let upstream = String::from_utf8_lossy(&call.upstream).into_owned();
        let timeout = if call.timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            call.timeout
        };
        if self.tunnels.contains(&upstream) {
            self.stats.tunnel_calls.fetch_add(1, Ordering::Relaxed);
            let node = header(call, ":authority")
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_default();
            let text =
                |name: &str| header(call, name).map(|v| String::from_utf8_lossy(v).into_owned());
            let tls = TlsWanted::from_headers(
                text("x-redis-tls").as_deref(),
                text("x-redis-server-name").as_deref(),
            );
            // The call's own budget, as Kong's bridge keeps it: the filter gives the host a
            // longer timeout on Kong (a last resort) and counts on the tunnel to answer at this
            // one.
            let timeout = text("x-redis-timeout")
                .and_then(|t| t.parse().ok())
                .map_or(timeout, |ms| timeout.min(Duration::from_millis(ms)));
            return match tunnel.call(&node, &call.body, timeout, tls.as_ref()).await {
                Ok(body) => {
                    HttpCallResponse::received(vec![pair(":status", "200")]).with_body(body)
                }
                Err(TunnelError::Timeout) => failure(self.profile, Failure::Timeout),
                Err(TunnelError::Connect(_)) => failure(self.profile, Failure::Connect),
                Err(TunnelError::Broken(_)) => failure(self.profile, Failure::Reset),
                // As Kong's bridge: a TLS failure is the tunnel's 502, with why.
                Err(TunnelError::Tls(m)) => {
                    HttpCallResponse::received(vec![pair(":status", "502")])
                        .with_body(m.into_bytes())
                }
                Err(TunnelError::BadRequest(m)) => {
                    HttpCallResponse::received(vec![pair(":status", "400")])
                        .with_body(m.into_bytes())
                }
            };
        }
        self.stats.http_calls.fetch_add(1, Ordering::Relaxed);
        let authority = match self.profile {
            Profile::Envoy => self.clusters.get(&upstream).cloned().unwrap_or(upstream),
            Profile::Kong => upstream,
        };
        let method = header(call, ":method")
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_else(|| "GET".into());
        let path = header(call, ":path")
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_else(|| "/".into());
        let mut headers: Vec<(String, Vec<u8>)> = call
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with(b":"))
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
            .collect();
        if let Some(host) = header(call, ":authority") {
            headers.push(("host".into(), host.to_vec()));
        }
        if self.profile == Profile::Kong {
            headers.push(("connection".into(), b"close".to_vec()));
        }
        let sent = client.send(&authority, &method, &path, headers, call.body.to_vec());
        match tokio::time::timeout(timeout, sent).await {
            Err(_) => failure(self.profile, Failure::Timeout),
            Ok(Err(e)) if e.is_connect => failure(self.profile, Failure::Connect),
            Ok(Err(_)) => failure(self.profile, Failure::Reset),
            Ok(Ok(resp)) => {
                let mut pairs: Pairs = vec![pair(":status", &resp.status.to_string())];
                pairs.extend(
                    resp.headers
                        .into_iter()
                        .map(|(k, v)| (Cow::Owned(k.into_bytes()), Cow::Owned(v))),
                );
                HttpCallResponse::received(pairs).with_body(resp.body)
            }
        }
    }
}
