//! One scenario, three hosts: the same test code runs against the harness, Envoy and Kong's
//! engine (nginx-wasm with the project's bridge, where it is found).

use crate::envoy::EnvoyGateway;
use crate::harness::{Setup, TestGateway};
use crate::http::{get, Response};
use crate::kong::{self, KongGateway};
use crate::kong_yml::{KongYml, Route};
use std::net::SocketAddr;
use std::path::Path;

pub const ROUTE_ID: &str = "5a1a1a1a-0000-4000-8000-00000000000a";
pub const SERVICE_ID: &str = "5b1b1b1b-0000-4000-8000-00000000000b";

/// A kong.yml with one service (`{echo}` for the upstream) and one route carrying
/// `redis-rate-limiting` with `config` (its JSON).
pub fn rate_limited_yaml(config: &str) -> String {
    let route = Route::at("/").name("limited").id(ROUTE_ID);
    KongYml::new()
        .service_id(SERVICE_ID)
        .route(route.filter("redis-rate-limiting", config))
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Harness,
    Envoy,
    Kong,
}

/// The hosts whose metrics and tunnel counts a scenario may read: the harness and Envoy; only
/// Envoy in the pass that runs the Envoy tests on the dynamic module (`E2E_ENVOY_BUILD=native`,
/// `crate::envoy::native_build`), where the other hosts have nothing new to show.
pub fn hosts() -> Vec<Host> {
    if crate::envoy::native_build() {
        vec![Host::Envoy]
    } else {
        vec![Host::Harness, Host::Envoy]
    }
}

/// Every host: Kong's engine too when it is found here (else it says so, once per call).
pub fn all_hosts(test: &str) -> Vec<Host> {
    let mut hosts = hosts();
    if !crate::envoy::native_build() && kong::available(test) {
        hosts.push(Host::Kong);
    }
    hosts
}

pub enum Gateway {
    Harness(TestGateway),
    Envoy(EnvoyGateway),
    Kong(KongGateway),
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
            Host::Kong => Gateway::Kong(KongGateway::start(yaml, filters, 2)),
        }
    }

    /// `start` with extra Redis nodes the tunnel may reach (`--redis-allow` style entries).
    pub fn start_allowing(host: Host, yaml: &str, filters: &Path, allow: &[&str]) -> Self {
        match host {
            Host::Harness => Self::start(host, yaml, filters),
            Host::Envoy => {
                Gateway::Envoy(EnvoyGateway::start_with(yaml, filters, 2, allow, |_| {}))
            }
            Host::Kong => Gateway::Kong(KongGateway::start_with(yaml, filters, 2, allow)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Gateway::Harness(g) => g.addr,
            Gateway::Envoy(g) => g.addr,
            Gateway::Kong(g) => g.addr,
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
            Gateway::Kong(_) => Host::Kong,
        }
    }

    /// What the gateway logged (Envoy's log; the harness logs to the test's stderr).
    pub fn log(&self) -> String {
        match self {
            Gateway::Harness(_) => "(harness: see stderr)".to_string(),
            Gateway::Envoy(g) => g.log(),
            Gateway::Kong(g) => g.log(),
        }
    }

    /// A filter metric by its name (Envoy reports it as `wasmcustom.<name>`; plain nginx has
    /// no endpoint for them: None).
    pub fn metric(&self, name: &str) -> Option<u64> {
        match self {
            Gateway::Harness(g) => g.metrics()[name].as_u64(),
            Gateway::Envoy(g) => g.stat(&format!("wasmcustom.{name}")),
            Gateway::Kong(_) => None,
        }
    }

    /// The gateway's resident memory, bytes: Envoy's process; Kong's engine's master and
    /// workers (proportional set size); none for the harness, which runs in the test's process.
    pub fn resident_bytes(&self) -> Option<u64> {
        let g = match self {
            Gateway::Envoy(g) => g,
            Gateway::Kong(g) => return g.resident_bytes(),
            Gateway::Harness(_) => return None,
        };
        crate::procfs::kb_field(g.pid(), "status", "VmRSS:")
    }

    /// Worker crashes the host logged (Kong's engine; the others would fail the test outright).
    pub fn crashes(&self) -> Vec<String> {
        match self {
            Gateway::Kong(g) => g.crashes(),
            _ => Vec::new(),
        }
    }

    /// Stops the tunnel while the gateway keeps running: Kong's bridge process; true when
    /// stopped. False on the harness and in Envoy, where the tunnel is part of the gateway's own
    /// process (it cannot go while the gateway serves).
    pub fn stop_tunnel(&self) -> bool {
        match self {
            Gateway::Kong(g) => {
                g.stop_bridge();
                true
            }
            Gateway::Harness(_) | Gateway::Envoy(_) => false,
        }
    }

    /// Starts the tunnel stopped by `stop_tunnel` again, with the same config, once it accepts
    /// connections; false where there is no separate tunnel (see `stop_tunnel`).
    pub fn start_tunnel(&self) -> bool {
        match self {
            Gateway::Kong(g) => {
                g.start_bridge();
                true
            }
            Gateway::Harness(_) | Gateway::Envoy(_) => false,
        }
    }

    /// Tunnelled calls to Redis so far (harness: counted by the host; Envoy: requests on the
    /// tunnel's internal listener, and the dynamic module's calls over its own connections).
    pub fn tunnel_calls(&self) -> Option<u64> {
        match self {
            Gateway::Harness(g) => g.metrics()["harness.tunnel_calls"].as_u64(),
            Gateway::Envoy(g) => {
                let tunnel = g.stat("http.redis_tunnel.downstream_rq_total");
                let own = g.stat("wasmcustom.redis_filters.redis_calls");
                match (tunnel, own) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                }
            }
            Gateway::Kong(_) => None,
        }
    }
}
