//! The gateway: loads kong.yml and the filters, and runs N workers that share one listening
//! socket and the filters' shared data.

use crate::callouts::Dispatches;
use crate::profile::Profile;
use crate::router::Router;
use crate::shared::SharedStore;
use crate::state::Shared;
use crate::vm::{StderrLog, Vm, VmSpec};
use crate::worker::Worker;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
use proxy_wasm_host::abi::v0_2_1::Host;
use proxy_wasm_host::{Engine, Module};
use redis_filters::kong_config::KongConfig;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub config: PathBuf,
    pub filters_path: PathBuf,
    pub listen: String,
    pub profile: Profile,
    pub workers: usize,
    /// Upstream names served as RESP tunnels (`redis_tunnel`, or a `host:port` in Kong's profile).
    pub redis_tunnels: Vec<String>,
    pub log_level: LogLevel,
    /// The CA bundle a call with `ssl_verify` checks Redis' certificate against (else the
    /// system's).
    pub redis_ca: Option<PathBuf>,
}

impl GatewayOptions {
    pub fn new(config: impl Into<PathBuf>, filters_path: impl Into<PathBuf>) -> Self {
        Self {
            config: config.into(),
            filters_path: filters_path.into(),
            listen: "127.0.0.1:0".into(),
            profile: Profile::Kong,
            workers: 2,
            redis_tunnels: vec![redis_filter_core::config::DEFAULT_TUNNEL.to_string()],
            log_level: LogLevel::Info,
            redis_ca: None,
        }
    }
}

pub struct Gateway {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Gateway {
    pub fn start(opts: GatewayOptions) -> Result<Self, String> {
        let config = KongConfig::load(&opts.config)?;
        // Each module is compiled once and instantiated once per worker; each use of a filter
        // in a chain is a root context of that instance.
        let mut uses: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
        for s in &config.services {
            for f in s
                .filters
                .iter()
                .chain(s.routes.iter().flat_map(|r| r.filters.iter()))
            {
                uses.entry(f.name.clone())
                    .or_default()
                    .push((f.origin.clone(), f.config.clone()));
            }
        }
        let engine = Engine::new().map_err(|e| format!("wasmtime: {e}"))?;
        let host = Host::new(&engine).map_err(|e| format!("proxy-wasm host: {e}"))?;
        let mut modules = Vec::new();
        for (name, roots) in uses {
            let path = opts.filters_path.join(format!("{name}.wasm"));
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("filter {name}: cannot read {}: {e}", path.display()))?;
            let bytes = if opts.profile == Profile::Kong {
                crate::kong_rules::check_exports(&name, &bytes)?;
                crate::kong_rules::as_kong_engine(&bytes)
                    .map_err(|e| format!("filter {name}: {e}"))?
            } else {
                bytes
            };
            let module = Module::new(&engine, &bytes)
                .map_err(|e| format!("filter {name}: cannot compile {}: {e}", path.display()))?;
            modules.push((name, module, roots));
        }
        let clusters = config
            .services
            .iter()
            .map(|s| (s.name.clone(), format!("{}:{}", s.host, s.port)))
            .collect::<HashMap<_, _>>();
        let mut tunnels = opts.redis_tunnels.clone();
        if opts.profile == Profile::Kong && !tunnels.is_empty() {
            // Where the filters look for Kong's bridge when their config names no tunnel.
            tunnels.push(redis_filter_core::proxy::redis::KONG_BRIDGE.to_string());
        }
        let mut known: Vec<String> = clusters.keys().cloned().collect();
        known.extend(tunnels.iter().cloned());
        let shared = Arc::new(Shared {
            router: Router::new(config),
            profile: opts.profile,
            tunnels,
            clusters,
            store: Arc::new(SharedStore::new()),
            calls: Arc::default(),
            tls: Arc::new(redis_tunnel::Tls::new(opts.redis_ca.as_deref())?),
        });
        let listener = TcpListener::bind(&opts.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let log = Arc::new(StderrLog {
            min: opts.log_level,
        });
        let mut threads = Vec::new();
        for index in 0..opts.workers.max(1) {
            let listener = listener.try_clone().map_err(|e| e.to_string())?;
            let specs: Vec<VmSpec> = modules
                .iter()
                .map(|(name, module, roots)| VmSpec {
                    name: name.clone(),
                    module: module.clone(),
                    host: host.clone(),
                    store: shared.store.clone(),
                    log: log.clone(),
                    dispatches: Arc::new(Dispatches::new(opts.profile, known.clone())),
                    roots: roots.clone(),
                    profile: opts.profile,
                })
                .collect();
            let shared = shared.clone();
            let mut stop_rx = stop_rx.clone();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = ready.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, async move {
                        let vms = match specs.into_iter().map(Vm::new).collect::<Result<Vec<_>, _>>() {
                            Ok(vms) => vms,
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        };
                        let worker = Worker::new(index, shared, vms);
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready.send(Err(e.to_string()));
                                return;
                            }
                        };
                        let _ = ready.send(Ok(()));
                        loop {
                            tokio::select! {
                                accepted = listener.accept() => {
                                    let Ok((stream, peer)) = accepted else { continue };
                                    let _ = stream.set_nodelay(true);
                                    let local_addr = stream.local_addr().unwrap_or(addr);
                                    let worker = worker.clone();
                                    tokio::task::spawn_local(async move {
                                        let service = service_fn(move |req| {
                                            let worker = worker.clone();
                                            async move { Ok::<_, std::convert::Infallible>(worker.handle(req, peer, local_addr).await) }
                                        });
                                        let _ = hyper::server::conn::http1::Builder::new()
                                            .keep_alive(true)
                                            .serve_connection(TokioIo::new(stream), service)
                                            .await;
                                    });
                                }
                                _ = stop_rx.changed() => break,
                            }
                        }
                    });
                })
                .map_err(|e| e.to_string())?;
            threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let _ = stop.send(true);
                    return Err(e);
                }
                Err(_) => return Err("a worker died while starting".into()),
            }
        }
        Ok(Self {
            addr,
            stop,
            threads,
        })
    }

    /// Stops the workers and waits for them.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
