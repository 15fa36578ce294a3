//! One scenario, two hosts: the same test code runs against the harness and against Envoy.

use crate::envoy::EnvoyGateway;
use crate::harness::{Setup, TestGateway};
use std::net::SocketAddr;
use std::path::Path;

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
