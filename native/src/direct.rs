//! The module's own way to Redis: a thread of its own keeps pooled connections to the Redis
//! nodes (TLS through rustls when a call asks) and serves the filters' tunnelled calls on them,
//! as the RESP tunnel would, with no HTTP call through Envoy. Each call's commands go out
//! pipelined on one connection; its answer comes back to the worker that sent it through that
//! worker's mailbox (`mailbox.rs`).
//!
//! `REDIS_FILTERS_REDIS_PATH=tunnel` in Envoy's environment sends the calls through Envoy's
//! tunnel cluster instead (`http_filter_http_callout`, the first path of issue 33), and
//! `tunnel:NAME,NAME` only those to the named tunnel clusters;
//! `REDIS_FILTERS_REDIS_CA` names the CA bundle that calls with `ssl_verify` check Redis'
//! certificates against (else the system's).

use crate::abi;
use crate::mailbox::{Delivery, Mailbox};
use redis_tunnel::{Tls, TunnelAsk, TunnelPool};
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// One call: its token, where it goes, its body, and the worker waiting for it.
pub struct Job {
    pub token: u32,
    pub ask: TunnelAsk,
    pub body: Vec<u8>,
    pub mailbox: Arc<Mailbox>,
}

/// Which calls go through Envoy's tunnel instead (`REDIS_FILTERS_REDIS_PATH`).
enum Tunnelled {
    /// None (unset, or `direct`).
    None,
    /// Every call (`tunnel`).
    All,
    /// The calls to these tunnel clusters (`tunnel:NAME,NAME`: a config's `redis.tunnel`), so
    /// that a benchmark measures both paths side by side in one Envoy.
    Named(Vec<Vec<u8>>),
}

fn tunnelled() -> &'static Tunnelled {
    static TUNNELLED: OnceLock<Tunnelled> = OnceLock::new();
    TUNNELLED.get_or_init(|| {
        let path = std::env::var("REDIS_FILTERS_REDIS_PATH").unwrap_or_default();
        match path.split_once(':') {
            _ if path == "tunnel" => Tunnelled::All,
            Some(("tunnel", names)) => Tunnelled::Named(
                names
                    .split(',')
                    .map(|n| n.trim().as_bytes().to_vec())
                    .collect(),
            ),
            _ => Tunnelled::None,
        }
    })
}

/// Whether the module serves a call to `cluster` itself: a tunnelled call (its content type,
/// `redis_filter_core::transport`) that is not asked to go through Envoy's tunnel, or that no
/// stream could carry there (`streamless`: a root's call on the main thread, `idle.rs`).
pub fn serves(cluster: &[u8], content_type: Option<&[u8]>, streamless: bool) -> bool {
    if content_type != Some(b"application/x-redis-resp".as_slice()) {
        return false;
    }
    if streamless {
        return true;
    }
    match tunnelled() {
        Tunnelled::None => true,
        Tunnelled::All => false,
        Tunnelled::Named(names) => !names.iter().any(|n| n == cluster),
    }
}

/// Hands a call to the Redis thread (started the first time).
pub fn send(job: Job) -> Result<(), ()> {
    static SENDER: OnceLock<Option<Mutex<UnboundedSender<Job>>>> = OnceLock::new();
    let sender = SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("redis-filters-redis".into())
            .spawn(move || run(rx));
        match spawned {
            Ok(_) => Some(Mutex::new(tx)),
            Err(e) => {
                abi::log(
                    abi::LOG_ERROR,
                    &format!("redis_filters: no Redis thread: {e}"),
                );
                None
            }
        }
    });
    let sender = sender.as_ref().ok_or(())?;
    let sender = sender.lock().unwrap_or_else(|p| p.into_inner());
    sender.send(job).map_err(|_| ())
}

/// The Redis thread: every call a task on one current-thread runtime, sharing the pool.
fn run(mut jobs: UnboundedReceiver<Job>) {
    let ca = std::env::var_os("REDIS_FILTERS_REDIS_CA").map(std::path::PathBuf::from);
    let parts = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| Ok((runtime, Arc::new(Tls::new(ca.as_deref())?))));
    let (runtime, tls) = match parts {
        Ok(parts) => parts,
        Err(e) => {
            // Every call fails, as through a tunnel that cannot start; none is left waiting.
            abi::log(abi::LOG_ERROR, &format!("redis_filters: Redis thread: {e}"));
            while let Some(job) = jobs.blocking_recv() {
                job.mailbox.post(Delivery {
                    token: job.token,
                    status: 503,
                    body: e.clone().into_bytes(),
                });
            }
            return;
        }
    };
    let pool = Rc::new(TunnelPool::new(tls));
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        while let Some(job) = jobs.recv().await {
            let pool = pool.clone();
            tokio::task::spawn_local(async move {
                let Job {
                    token,
                    ask,
                    body,
                    mailbox,
                } = job;
                let answer = pool
                    .call(&ask.node, &body, ask.timeout, ask.tls.as_ref())
                    .await;
                let (status, body) = match answer {
                    Ok(replies) => (200, replies),
                    Err(e) => e.envoy_answer(),
                };
                mailbox.post(Delivery {
                    token,
                    status,
                    body,
                });
            });
        }
    });
}
