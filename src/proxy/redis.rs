//! The Redis client a root context owns: the multiplexer and the host it dispatches through.
//! The guest's registry (`runtime`) keeps a weak reference per root and routes each call's
//! answer to the client whose multiplexer made the call.

use super::host;
use super::runtime::{self, CallOwner};
use crate::config::{NodeAddr, RedisConfig, DEFAULT_TUNNEL};
use crate::job::Job;
use crate::shared_data::{SetError, SharedData};
use crate::topology;
use crate::transport::{
    Affinity, CallResponse, Dispatcher, Finished, Framing, Mux, MuxConfig, MuxStats, Submitted,
    Waiter,
};
use std::cell::RefCell;
use std::rc::Rc;

pub struct RedisClient {
    root_id: u32,
    mux: Mux,
}

pub type SharedClient = Rc<RefCell<RedisClient>>;

/// Where the filters reach Kong's RESP bridge (kong/redis-bridge.conf) when `redis.tunnel` is
/// not set, in Kong's engine.
pub const KONG_BRIDGE: &str = "unix:/usr/local/kong/redis-bridge.sock";

/// Beyond the filter's timeout, how long the host waits for the bridge when the bridge enforces
/// the timeout itself (`PerContext` hosts: Kong's bridge answers 504 at the deadline, so the
/// host's own timeout, whose failure path differs per engine, is a last resort).
#[cfg_attr(feature = "higress", allow(dead_code))]
const BRIDGE_GRACE_MS: u32 = 1000;

impl RedisClient {
    /// A client for `config`, owned by the root context `root_id`. Call it from that root's
    /// callback (on_configure): the host's affinity is asked there.
    pub fn new(root_id: u32, config: &RedisConfig) -> Result<SharedClient, String> {
        #[cfg(feature = "higress")]
        let framing = {
            if !matches!(config.mode, crate::config::RedisMode::Standalone(_)) {
                return Err(
                    "redis: Higress' proxy_redis_call reaches one configured service; \
                    sentinel_* and cluster_nodes need the RESP tunnel build"
                        .into(),
                );
            }
            Framing::pooled(config)
        };
        #[cfg(not(feature = "higress"))]
        let framing = Framing::new(config);
        let affinity = runtime::affinity();
        let mut mux_config = MuxConfig::from_redis(config);
        if affinity == Affinity::PerContext && config.tunnel == DEFAULT_TUNNEL {
            mux_config.upstream = KONG_BRIDGE.to_string();
        }
        let mut mux = Mux::new(mux_config, framing, topology::from_config(config))
            .with_sentinel_framing(Framing::sentinel(config))
            .with_root(root_id);
        mux.set_affinity(affinity);
        let client = Rc::new(RefCell::new(Self { root_id, mux }));
        runtime::register_client(root_id, client.clone());
        #[cfg(feature = "higress")]
        super::higress::init(config)?;
        Ok(client)
    }

    /// Starts a job for the context `context_id` (the running one); `tag` comes back with the
    /// outcome.
    pub fn submit(&mut self, context_id: u32, tag: u32, job: Box<dyn Job>) -> Submitted {
        let mut host = self.host();
        let waiter = Waiter { context_id, tag };
        self.mux.submit(&mut host, host::now_ms(), waiter, job)
    }

    pub fn stats(&self) -> &MuxStats {
        self.mux.stats()
    }

    pub fn affinity(&self) -> Affinity {
        self.mux.affinity()
    }

    fn host(&self) -> HostDispatcher {
        HostDispatcher {
            root_id: self.root_id,
            affinity: self.mux.affinity(),
        }
    }
}

struct HostDispatcher {
    #[cfg_attr(feature = "higress", allow(dead_code))]
    root_id: u32,
    #[cfg_attr(feature = "higress", allow(dead_code))]
    affinity: Affinity,
}

impl SharedData for HostDispatcher {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        HostSharedData.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        HostSharedData.set(key, value, cas)
    }
}

/// The host's shared data (`proxy_get_shared_data` / `proxy_set_shared_data`).
pub struct HostSharedData;

impl SharedData for HostSharedData {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match host::shared_data(key) {
            Ok((Some(value), cas)) => Some((value, cas)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        match host::set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(host::Status::CAS_MISMATCH) => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Refused),
        }
    }
}

impl CallOwner for RedisClient {
    fn call_context(&self, token: u32) -> Option<u32> {
        self.mux.call_context(token)
    }

    fn on_response(&mut self, token: u32, response: &CallResponse) {
        let mut host = self.host();
        self.mux
            .on_response(&mut host, host::now_ms(), token, response);
    }

    fn tick(&mut self) {
        let mut host = self.host();
        self.mux.on_tick(&mut host, host::now_ms());
    }

    fn cancel(&mut self, context_id: u32) {
        self.mux.cancel(context_id);
    }

    fn take_finished(&mut self) -> Vec<Finished> {
        self.mux.take_finished()
    }
}

impl Dispatcher for HostDispatcher {
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
    ) -> Result<u32, String> {
        #[cfg(feature = "higress")]
        let token = {
            let _ = (node, timeout_ms);
            super::higress::call(upstream, &body)
        };
        #[cfg(not(feature = "higress"))]
        let token = {
            let headers = Framing::headers(node, timeout_ms);
            match self.affinity {
                // Dispatch on the root context, so the call outlives the request that happened
                // to send it (other requests' commands ride on it too).
                Affinity::Shared => {
                    let current = runtime::current_context();
                    let on_root = current != self.root_id
                        && host::set_effective_context(self.root_id).is_ok();
                    let token = host::http_call(upstream, &headers, &body, timeout_ms);
                    if on_root {
                        let _ = host::set_effective_context(current);
                    }
                    token
                }
                Affinity::PerContext => host::http_call(
                    upstream,
                    &headers,
                    &body,
                    timeout_ms.saturating_add(BRIDGE_GRACE_MS),
                ),
            }
        };
        token.map_err(|s| format!("host refused the call to {upstream:?} (status {})", s.0))
    }
}
