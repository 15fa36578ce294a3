//! The Redis client a root context owns: the multiplexer and the host it dispatches through.
//! The guest's registry (`runtime`) keeps a weak reference per root and routes each call's
//! answer to the client whose multiplexer made the call.

use super::redis_transport::Transport;
use super::runtime::{self, CallOwner};
use crate::config::{RedisConfig, DEFAULT_TUNNEL};
use crate::job::Job;
use crate::topology;
use crate::transport::{
    Affinity, CallResponse, Finished, Framing, Mux, MuxConfig, MuxStats, Submitted, Waiter,
};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub struct RedisClient {
    root_id: u32,
    config: RedisConfig,
    mux: Mux,
}

pub type SharedClient = Rc<RefCell<RedisClient>>;

/// Where the filters reach Kong's RESP bridge (kong/redis-bridge.conf) when `redis.tunnel` is
/// not set, in Kong's engine.
pub const KONG_BRIDGE: &str = "unix:/usr/local/kong/redis-bridge.sock";

/// How this build reaches Redis: the RESP tunnel through `proxy_http_call`, or (the `higress`
/// build) Higress' `proxy_redis_call`. Each is a `Dispatcher` of its own.
#[cfg(not(feature = "higress"))]
type ThisTransport = super::tunnel_transport::TunnelTransport;
#[cfg(feature = "higress")]
type ThisTransport = super::higress_transport::HigressTransport;

impl RedisClient {
    /// A client for `config`, owned by the root context `root_id`. Call it from that root's
    /// callback (on_configure): the host's affinity is asked there.
    ///
    /// The filters of one root with the same Redis config (the filters of a `redis-chain`)
    /// share one client: their commands leave in the same pipelines.
    pub fn new(root_id: u32, config: &RedisConfig) -> Result<SharedClient, String> {
        if let Some(client) = shared_client(root_id, config) {
            return Ok(client);
        }
        let framing = ThisTransport::framing(config)?;
        let affinity = runtime::affinity();
        let mut mux_config = MuxConfig::from_redis(config);
        if affinity == Affinity::PerContext && config.tunnel == DEFAULT_TUNNEL {
            mux_config.upstream = KONG_BRIDGE.to_string();
        }
        let mut mux = Mux::new(mux_config, framing, topology::from_config(config))
            .with_sentinel_framing(Framing::sentinel(config))
            .with_root(root_id);
        mux.set_affinity(affinity);
        let client = Rc::new(RefCell::new(Self {
            root_id,
            config: config.clone(),
            mux,
        }));
        runtime::register_client(root_id, client.clone());
        CLIENTS.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|w| w.strong_count() > 0);
            c.push(Rc::downgrade(&client));
        });
        ThisTransport::init(config)?;
        Ok(client)
    }

    /// Starts a job for the context `context_id` (the running one); `tag` comes back with the
    /// outcome.
    pub fn submit(&mut self, context_id: u32, tag: u32, job: Box<dyn Job>) -> Submitted {
        let mut host = self.host();
        let tag = runtime::tagged(tag);
        let waiter = Waiter { context_id, tag };
        self.mux.submit(&mut host, runtime::now_ms(), waiter, job)
    }

    pub fn stats(&self) -> &MuxStats {
        self.mux.stats()
    }

    fn host(&self) -> ThisTransport {
        ThisTransport::new(self.root_id, self.mux.affinity())
    }
}

thread_local! {
    /// Every live client, to find the one a root already has for a config.
    static CLIENTS: RefCell<Vec<Weak<RefCell<RedisClient>>>> = const { RefCell::new(Vec::new()) };
}

/// The client root `root_id` already has for `config`, if any.
fn shared_client(root_id: u32, config: &RedisConfig) -> Option<SharedClient> {
    CLIENTS.with(|c| {
        c.borrow().iter().filter_map(Weak::upgrade).find(|client| {
            client
                .try_borrow()
                .is_ok_and(|c| c.root_id == root_id && c.config == *config)
        })
    })
}

impl CallOwner for RedisClient {
    fn hold(&mut self) {
        self.mux.hold();
    }

    fn release(&mut self) {
        let mut host = self.host();
        self.mux.release(&mut host, runtime::now_ms());
    }

    fn call_context(&self, token: u32) -> Option<u32> {
        self.mux.call_context(token)
    }

    fn on_response(&mut self, token: u32, response: &CallResponse) {
        let mut host = self.host();
        self.mux
            .on_response(&mut host, runtime::now_ms(), token, response);
    }

    fn tick(&mut self) {
        let mut host = self.host();
        self.mux.on_tick(&mut host, runtime::now_ms());
    }

    fn cancel(&mut self, context_id: u32) {
        self.mux.cancel(context_id);
    }

    fn take_finished(&mut self) -> Vec<Finished> {
        self.mux.take_finished()
    }

    fn has_finished(&self) -> bool {
        self.mux.has_finished()
    }

    fn waits_for(&self, context_id: u32) -> bool {
        self.mux.waits_for(context_id)
    }
}
