//! Makes the HTTP calls guests dispatch: to a RESP tunnel (served natively) or to an HTTP
//! upstream, and turns the outcome into what the host profile delivers.

use crate::http_client::HttpClient;
use crate::profile::Profile;
use proxy_wasm_host::abi::v0_2_1::{HttpCall, HttpCallResponse};
use redis_tunnel::{TunnelAsk, TunnelError, TunnelPool};
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

/// How each host reports a call the tunnel could not answer: Envoy's tunnel with its status
/// and body (`TunnelError::envoy_answer`), Kong's engine (ngx_wasm_module) with no status and
/// the reason in `:dispatch_status` for a timeout or a lost connection.
fn failure(profile: Profile, error: &TunnelError) -> HttpCallResponse<'static> {
    let reason = match error {
        TunnelError::Timeout => Some("timeout"),
        TunnelError::Connect(_) | TunnelError::Broken(_) => Some("broken connection"),
        TunnelError::Tls(_) | TunnelError::BadRequest(_) => None,
    };
    if let (Profile::Kong, Some(reason)) = (profile, reason) {
        return HttpCallResponse::received(vec![pair(":dispatch_status", reason)]);
    }
    let (status, body) = error.envoy_answer();
    let mut headers = vec![pair(":status", &status.to_string())];
    if matches!(
        error,
        TunnelError::Timeout | TunnelError::Connect(_) | TunnelError::Broken(_)
    ) {
        headers.push(pair("content-type", "text/plain"));
    }
    HttpCallResponse::received(headers).with_body(body)
}

impl Upstreams {
    pub async fn perform(
        &self,
        call: &HttpCall<'static>,
        tunnel: &TunnelPool,
        client: &HttpClient,
    ) -> HttpCallResponse<'static> {
        let upstream = String::from_utf8_lossy(&call.upstream).into_owned();
        if self.tunnels.contains(&upstream) {
            self.stats.tunnel_calls.fetch_add(1, Ordering::Relaxed);
            let text =
                |name: &str| header(call, name).map(|v| String::from_utf8_lossy(v).into_owned());
            let ask = TunnelAsk::from_headers(text, call.timeout);
            let answer = tunnel
                .call(&ask.node, &call.body, ask.timeout, ask.tls.as_ref())
                .await;
            return match answer {
                Ok(body) => {
                    HttpCallResponse::received(vec![pair(":status", "200")]).with_body(body)
                }
                Err(e) => failure(self.profile, &e),
            };
        }
        let timeout = if call.timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            call.timeout
        };
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
            Err(_) => failure(self.profile, &TunnelError::Timeout),
            Ok(Err(e)) if e.is_connect => failure(self.profile, &TunnelError::Connect(e.message)),
            Ok(Err(e)) => failure(self.profile, &TunnelError::Broken(e.message)),
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
