//! Kong's engine for real: nginx built with Kong's ngx_wasm_module (`nginx-wasm`, found through
//! `NGINX_WASM` or at `../shared/hosts/nginx-wasm`) serving a kong.yml rendered by the operator
//! CLI's `redis_filters::nginx_config`, and the project's RESP bridge (kong/redis_bridge.lua) in
//! Debian's nginx with the Lua module, on a unix socket. Both stopped (by pid) when dropped; the
//! bridge can also be stopped and started again while the engine runs (`stop_bridge`,
//! `start_bridge`: the tunnel gone).

use crate::harness::TempDir;
use redis_filters::kong_config::KongConfig;
use redis_filters::nginx_config::{render, running_as_root, NginxOptions};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use wasm_test_harness::EchoServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The engine binary, if there is one.
pub fn nginx_wasm() -> Option<PathBuf> {
    let path = std::env::var_os("NGINX_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(shared_engine);
    path.exists().then_some(path)
}

/// The nginx that serves the bridge (Debian's, with the Lua module).
fn bridge_nginx() -> Option<PathBuf> {
    let lua = Path::new("/usr/lib/nginx/modules/ngx_http_lua_module.so");
    let bin = std::env::var_os("BRIDGE_NGINX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    (bin.exists() && lua.exists()).then_some(bin)
}

/// Whether Kong's engine can run here; says why not (once per test) when it cannot. Where the
/// engine is (`NGINX_WASM` set, or `../shared/hosts/nginx-wasm` present, as in CI) a missing part
/// fails the test instead: the engine's tests must not go quietly green there.
pub fn available(test: &str) -> bool {
    let expected = std::env::var_os("NGINX_WASM").is_some() || shared_engine().exists();
    match (nginx_wasm(), bridge_nginx()) {
        (Some(_), Some(_)) => true,
        (None, _) if expected => panic!(
            "{test}: NGINX_WASM names {:?}, which does not exist",
            std::env::var_os("NGINX_WASM")
        ),
        (None, _) => {
            let why = "no nginx-wasm (set NGINX_WASM, or put it at ../shared/hosts/nginx-wasm)";
            crate::skipped("on Kong's engine", test, why);
            false
        }
        (Some(engine), None) => panic!(
            "{test}: the engine is here ({}) but not the bridge's nginx with the Lua module \
             (scripts/setup.sh installs it)",
            engine.display()
        ),
    }
}

fn shared_engine() -> PathBuf {
    repo().join("../shared/hosts/nginx-wasm")
}

pub struct KongGateway {
    pub addr: SocketAddr,
    pub echo: SocketAddr,
    engine: Child,
    /// The bridge's nginx (its master), None while stopped.
    bridge: Mutex<Option<Child>>,
    bridge_bin: PathBuf,
    echo_server: Option<EchoServer>,
    pub dir: TempDir,
}

impl KongGateway {
    pub fn start(yaml: &str, filters: &Path, workers: usize) -> Self {
        Self::start_with(yaml, filters, workers, &[])
    }

    pub fn start_with(yaml: &str, filters: &Path, workers: usize, redis_allow: &[&str]) -> Self {
        Self::start_full(yaml, filters, workers, redis_allow, None)
    }

    /// `start_with`, the bridge checking Redis' certificates against `redis_ca`.
    pub fn start_full(
        yaml: &str,
        filters: &Path,
        workers: usize,
        redis_allow: &[&str],
        redis_ca: Option<&Path>,
    ) -> Self {
        let engine_bin = nginx_wasm().expect("nginx-wasm (check kong::available first)");
        let bridge_bin = bridge_nginx().expect("bridge nginx (check kong::available first)");
        let echo_server = EchoServer::start("127.0.0.1:0").expect("echo");
        let echo = echo_server.addr;
        let dir = TempDir::new("kong");
        std::fs::create_dir_all(dir.0.join("logs")).unwrap();
        let config =
            KongConfig::parse(&yaml.replace("{echo}", &echo.to_string())).expect("kong.yml");
        let port = crate::free_port();
        let filters = std::fs::canonicalize(filters).expect("filters dir");
        let socket = dir.0.join("bridge.sock");
        let lua = std::fs::canonicalize(repo().join("kong")).unwrap();
        let opts = NginxOptions {
            filters_path: &filters,
            listen: ("127.0.0.1".into(), port),
            workers,
            prefix: &dir.0,
            bridge_socket: &socket,
            bridge_lua_dir: &lua,
            redis_allow: redis_allow.iter().map(|a| a.to_string()).collect(),
            user_root: running_as_root(),
            redis_ca,
            // The tests name each chain's form: separate filters stay separate, and
            // `redis-chain` is written out where a test wants it.
            keep_apart: true,
        };
        let rendered = render(&config, &opts).expect("render nginx");
        std::fs::write(dir.0.join("nginx.conf"), &rendered.wasm).unwrap();
        std::fs::write(dir.0.join("bridge.conf"), &rendered.bridge).unwrap();
        let bridge = spawn(&bridge_bin, &dir.0, "bridge.conf");
        let engine = spawn(&engine_bin, &dir.0, "nginx.conf");
        let gw = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            echo,
            engine,
            bridge: Mutex::new(Some(bridge)),
            bridge_bin,
            echo_server: Some(echo_server),
            dir,
        };
        let modules = rendered.wasm.matches("\n    module ").count();
        gw.wait_ready(&socket, workers.max(1) * modules);
        gw
    }

    fn socket(&self) -> PathBuf {
        self.dir.0.join("bridge.sock")
    }

    fn bridge(&self) -> MutexGuard<'_, Option<Child>> {
        self.bridge.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the bridge while the engine keeps running: the tunnel gone. Its nginx master is sent
    /// SIGTERM by pid (as when dropped; a SIGKILL would leave its worker serving the socket) and
    /// waited for, and a socket file left behind is removed, so the engine's calls find nothing
    /// to connect to.
    pub fn stop_bridge(&self) {
        if let Some(mut child) = self.bridge().take() {
            terminate(&mut child);
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts the bridge again with the config it started with (after `stop_bridge`; nothing
    /// when it runs), and waits until its socket accepts connections.
    pub fn start_bridge(&self) {
        let socket = self.socket();
        {
            let mut bridge = self.bridge();
            if bridge.is_some() {
                return;
            }
            // nginx does not replace a unix socket file left behind: its bind would fail.
            let _ = std::fs::remove_file(&socket);
            *bridge = Some(spawn(&self.bridge_bin, &self.dir.0, "bridge.conf"));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let startup = std::fs::read_to_string(self.dir.0.join("logs/startup-bridge.conf.log"))
            .unwrap_or_default();
        panic!(
            "Kong's bridge did not start again:\n{startup}{}",
            self.log()
        );
    }

    /// Waits until the bridge's socket exists, the engine accepts connections and every worker
    /// has compiled every module (`loads`: workers x modules, each logged `successfully loaded`):
    /// a worker serves nothing before, and on a busy machine one filter's compilation alone took
    /// over 4 s, longer than a test's load phase.
    fn wait_ready(&self, socket: &Path, loads: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let loaded = self.log().matches("successfully loaded").count();
            if loaded >= loads && socket.exists() && TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Kong's engine did not start:\n{}", self.log());
    }

    /// The engine's error log (and the bridge's).
    pub fn log(&self) -> String {
        let read =
            |f: &str| std::fs::read_to_string(self.dir.0.join("logs").join(f)).unwrap_or_default();
        format!(
            "{}{}{}",
            read("startup-nginx.conf.log"),
            read("error.log"),
            read("bridge-error.log")
        )
    }

    /// The engine's memory: the proportional set size of its master and workers (each shared
    /// page, as the `shm_kv` zone's, counted once across them), from `/proc`.
    pub fn resident_bytes(&self) -> Option<u64> {
        let master = self.engine.id();
        let mut pids = crate::procfs::children(master);
        pids.push(master);
        pids.into_iter()
            .map(|pid| crate::procfs::kb_field(pid, "smaps_rollup", "Pss:"))
            .sum()
    }

    /// Worker crashes and workers that could not start, from the engine's log.
    pub fn crashes(&self) -> Vec<String> {
        worker_crashes(&self.log())
    }
}

/// The lines of an nginx error log that say a worker died or could not start again.
pub fn worker_crashes(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("exited on signal") || l.contains("cannot be respawned"))
        .map(str::to_string)
        .collect()
}

/// nginx (`bin`) in the foreground with `dir` as its prefix and `dir/conf` as its config, its
/// startup errors in `dir/logs/startup-<conf>.log`.
fn spawn(bin: &Path, dir: &Path, conf: &str) -> Child {
    Command::new(bin)
        .args(["-p", &format!("{}/", dir.display()), "-c"])
        .arg(dir.join(conf))
        .args(["-e", &format!("{}/logs/startup-{conf}.log", dir.display())])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx")
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for KongGateway {
    fn drop(&mut self) {
        terminate(&mut self.engine);
        if let Some(mut bridge) = self.bridge().take() {
            terminate(&mut bridge);
        }
        if let Some(e) = self.echo_server.take() {
            e.stop();
        }
    }
}
