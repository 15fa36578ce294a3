//! The RESP tunnel's `Dispatcher`: a pipeline goes out as `proxy_http_call` to the tunnel
//! upstream (Envoy's internal listener, Kong's bridge, the harness), on the root context where
//! the host lets one context act for another.

use super::abi;
use super::host_shared_data::HostSharedData;
use super::redis_transport::Transport;
use super::runtime;
use crate::config::{NodeAddr, RedisConfig};
use crate::shared_data::{SetError, SharedData};
use crate::transport::{Affinity, Dispatcher, Framing, TlsAsk};

/// Beyond the filter's timeout, how long the host waits for the bridge when the bridge enforces
/// the timeout itself (`PerContext` hosts: Kong's bridge answers 504 at the deadline, so the
/// host's own timeout, whose failure path differs per engine, is a last resort).
const BRIDGE_GRACE_MS: u32 = 1000;

pub struct TunnelTransport {
    root_id: u32,
    affinity: Affinity,
}

impl Transport for TunnelTransport {
    fn framing(config: &RedisConfig) -> Result<Framing, String> {
        Ok(Framing::new(config))
    }

    fn init(_config: &RedisConfig) -> Result<(), String> {
        Ok(())
    }

    fn new(root_id: u32, affinity: Affinity) -> Self {
        Self { root_id, affinity }
    }
}

impl SharedData for TunnelTransport {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        HostSharedData.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        HostSharedData.set(key, value, cas)
    }
}

impl Dispatcher for TunnelTransport {
    fn current_context(&self) -> u32 {
        runtime::current_context()
    }

    fn can_dispatch(&self) -> bool {
        runtime::root_may_dispatch(self.root_id)
    }

    fn dispatch(
        &mut self,
        upstream: &str,
        node: &NodeAddr,
        body: Vec<u8>,
        timeout_ms: u32,
        tls: Option<&TlsAsk>,
    ) -> Result<u32, String> {
        let headers = Framing::headers(node, timeout_ms, tls);
        let token = match self.affinity {
            // On the root context, so the call outlives the request that happened to send it
            // (other requests' commands ride on it too).
            Affinity::Shared => {
                let current = runtime::current_context();
                let on_root =
                    current != self.root_id && abi::set_effective_context(self.root_id).is_ok();
                let token = abi::http_call(upstream, &headers, &body, timeout_ms);
                if on_root {
                    let _ = abi::set_effective_context(current);
                }
                token
            }
            Affinity::PerContext => abi::http_call(
                upstream,
                &headers,
                &body,
                timeout_ms.saturating_add(BRIDGE_GRACE_MS),
            ),
        };
        token.map_err(|s| format!("host refused the call to {upstream:?} (status {})", s.0))
    }
}
