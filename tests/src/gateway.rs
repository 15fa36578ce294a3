//! One scenario, two hosts: the same test code runs against the harness and against Envoy.

use crate::envoy::EnvoyGateway;
use crate::harness::{Setup, TestGateway};
use crate::http::{get, Response};
use std::net::SocketAddr;
use std::path::Path;

pub const ROUTE_ID: &str = "5a1a1a1a-0000-4000-8000-00000000000a";
pub const SERVICE_ID: &str = "5b1b1b1b-0000-4000-8000-00000000000b";

/// A kong.yml with one service (`{echo}` for the upstream) and one route carrying
/// `redis-rate-limiting` with `config` (its JSON).
pub fn rate_limited_yaml(config: &str) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
- name: echo
  id: {SERVICE_ID}
  url: http://{{echo}}
  routes:
  - name: limited
    id: {ROUTE_ID}
    paths: [/]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {config}
"#
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Harness,
    Envoy,
}

pub const HOSTS: [Host; 2] = [Host::Harness, Host::Envoy];

pub enum Gateway {
    Harness(TestGateway),
    Envoy(EnvoyGateway),
}

impl Gateway {
    /// Serves `yaml` (with `{echo}` for the upstream) on `host`, with 2 workers.
    pub fn start(host: Host, yaml: &str, filters: &Path) -> Self {
        match host {
            Host::Harness => Gateway::Harness(
                Setup::new(yaml)
                    .filters(filters.to_path_buf())
                    .workers(2)
                    .start(),
            ),
            Host::Envoy => Gateway::Envoy(EnvoyGateway::start(yaml, filters, 2)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Gateway::Harness(g) => g.addr,
            Gateway::Envoy(g) => g.addr,
        }
    }

    /// Sends `limit` requests, each let through with `X-RateLimit-Remaining-<period>` counting
    /// down to 0, then one more, which must get 429; returns that one.
    pub fn expect_limit(&self, period: &str, limit: u64) -> Response {
        let host = self.host();
        let header = format!("x-ratelimit-remaining-{period}");
        for remaining in (0..limit).rev() {
            let r = get(self.addr(), "/", &[]);
            assert_eq!(r.status, 200, "{host:?}: {}", r.text());
            assert_eq!(
                r.header(&header),
                Some(remaining.to_string().as_str()),
                "{host:?}: {}",
                self.log()
            );
        }
        let r = get(self.addr(), "/", &[]);
        assert_eq!(r.status, 429, "{host:?}: {}", r.text());
        r
    }

    pub fn host(&self) -> Host {
        match self {
            Gateway::Harness(_) => Host::Harness,
            Gateway::Envoy(_) => Host::Envoy,
        }
    }

    /// What the gateway logged (Envoy's log; the harness logs to the test's stderr).
    pub fn log(&self) -> String {
        match self {
            Gateway::Harness(_) => "(harness: see stderr)".to_string(),
            Gateway::Envoy(g) => g.log(),
        }
    }

    /// A filter metric by its name (Envoy reports it as `wasmcustom.<name>`).
    pub fn metric(&self, name: &str) -> Option<u64> {
        match self {
            Gateway::Harness(g) => g.metrics()[name].as_u64(),
            Gateway::Envoy(g) => g.stat(&format!("wasmcustom.{name}")),
        }
    }

    /// Tunnelled calls to Redis so far (harness: counted by the host; Envoy: requests on the
    /// tunnel's internal listener).
    pub fn tunnel_calls(&self) -> Option<u64> {
        match self {
            Gateway::Harness(g) => g.metrics()["harness.tunnel_calls"].as_u64(),
            Gateway::Envoy(g) => g.stat("http.redis_tunnel.downstream_rq_total"),
        }
    }
}
