//! The Redis client a root context owns: the multiplexer, dispatching through the host, and the
//! bookkeeping that routes each call's answer back to it whichever context the host delivers
//! the answer to.

use super::host::{self, HeaderMap, LogLevel};
use crate::config::{NodeAddr, RedisConfig};
use crate::job::Job;
use crate::topology::{self, SharedStore};
use crate::transport::{
    CallResponse, Dispatcher, Finished, Framing, Mux, MuxConfig, MuxStats, Submitted, Waiter,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

thread_local! {
    static CLIENTS: RefCell<HashMap<u32, Weak<RefCell<RedisClient>>>> = RefCell::new(HashMap::new());
    static TOKENS: RefCell<HashMap<u32, u32>> = RefCell::new(HashMap::new());
    static NEXT_CLIENT: RefCell<u32> = const { RefCell::new(1) };
}

pub struct RedisClient {
    id: u32,
    root_id: u32,
    mux: Mux,
}

pub type SharedClient = Rc<RefCell<RedisClient>>;

impl RedisClient {
    /// A client for `config`, owned by the root context `root_id`.
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
        let mux = Mux::new(
            MuxConfig::from_redis(config),
            framing,
            topology::from_config(config),
        )
        .with_sentinel_framing(Framing::sentinel(config));
        let id = NEXT_CLIENT.with(|n| {
            let mut n = n.borrow_mut();
            *n += 1;
            *n
        });
        let client = Rc::new(RefCell::new(Self { id, root_id, mux }));
        CLIENTS.with(|c| c.borrow_mut().insert(id, Rc::downgrade(&client)));
        #[cfg(feature = "higress")]
        super::higress::init(config)?;
        Ok(client)
    }

    /// Starts a job for the HTTP context `context_id`; `tag` comes back with the outcome.
    pub fn submit(&mut self, context_id: u32, tag: u32, job: Box<dyn Job>) -> Submitted {
        let mut host = self.host();
        let waiter = Waiter { context_id, tag };
        self.mux.submit(&mut host, host::now_ms(), waiter, job)
    }

    pub fn stats(&self) -> &MuxStats {
        self.mux.stats()
    }

    fn host(&self) -> HostDispatcher {
        HostDispatcher {
            client_id: self.id,
            root_id: self.root_id,
        }
    }
}

impl Drop for RedisClient {
    fn drop(&mut self) {
        let id = self.id;
        let _ = CLIENTS.try_with(|c| c.borrow_mut().remove(&id));
    }
}

struct HostDispatcher {
    client_id: u32,
    #[cfg_attr(feature = "higress", allow(dead_code))]
    root_id: u32,
}

impl SharedStore for HostDispatcher {
    fn get(&mut self, key: &str) -> Option<(Vec<u8>, u32)> {
        match host::shared_data(key) {
            Ok((Some(value), cas)) => Some((value, cas)),
            _ => None,
        }
    }

    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> bool {
        host::set_shared_data(key, value, cas).is_ok()
    }
}

impl Dispatcher for HostDispatcher {
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
            let headers = Framing::headers(node);
            // Dispatch on the root context where the host allows it, so the call outlives the
            // request that happened to send it (other requests' commands ride on it too).
            let current = super::exports::current_context();
            let on_root =
                current != self.root_id && host::set_effective_context(self.root_id).is_ok();
            let token = host::http_call(upstream, &headers, &body, timeout_ms);
            if on_root {
                let _ = host::set_effective_context(current);
            }
            token
        };
        let token =
            token.map_err(|s| format!("host refused the call to {upstream:?} (status {})", s.0))?;
        TOKENS.with(|t| t.borrow_mut().insert(token, self.client_id));
        Ok(token)
    }
}

fn client(id: u32) -> Option<SharedClient> {
    CLIENTS.with(|c| c.borrow().get(&id).and_then(Weak::upgrade))
}

/// Reads the answer of an HTTP call from the host and routes it to the client that made the
/// call. False if the token is not ours.
pub(super) fn on_call_response(token: u32, body_size: usize) -> bool {
    if !TOKENS.with(|t| t.borrow().contains_key(&token)) {
        return false;
    }
    let headers = host::headers(HeaderMap::HttpCallResponseHeaders).unwrap_or_default();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let response = CallResponse {
        status: find(":status").and_then(|s| s.parse().ok()),
        failure: find(":dispatch_status").filter(|s| s != "ok"),
        body: host::buffer(host::Buffer::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default(),
    };
    on_response(token, &response)
}

/// Routes an answer to the client that made the call. False if the token is not ours.
pub(super) fn on_response(token: u32, response: &CallResponse) -> bool {
    let Some(client) = TOKENS
        .with(|t| t.borrow_mut().remove(&token))
        .and_then(client)
    else {
        return false;
    };
    let Ok(mut c) = client.try_borrow_mut() else {
        host::log(LogLevel::Error, "redis client busy; answer dropped");
        return true;
    };
    let mut host = c.host();
    c.mux
        .on_response(&mut host, host::now_ms(), token, response);
    true
}

/// Ticks the clients of root context `root_id` (expiries).
pub(super) fn tick(root_id: u32) {
    for client in all_clients() {
        if let Ok(mut c) = client.try_borrow_mut() {
            if c.root_id == root_id {
                let mut host = c.host();
                c.mux.on_tick(&mut host, host::now_ms());
            }
        }
    }
}

/// The HTTP context went away: drop its waiting jobs.
pub(super) fn cancel(context_id: u32) {
    for client in all_clients() {
        if let Ok(mut c) = client.try_borrow_mut() {
            c.mux.cancel(context_id);
        }
    }
}

/// Finished jobs of every client, for delivery to their HTTP contexts.
pub(super) fn take_finished() -> Vec<Finished> {
    all_clients()
        .iter()
        .filter_map(|c| c.try_borrow_mut().ok().map(|mut c| c.mux.take_finished()))
        .flatten()
        .collect()
}

fn all_clients() -> Vec<SharedClient> {
    CLIENTS.with(|c| c.borrow().values().filter_map(Weak::upgrade).collect())
}
