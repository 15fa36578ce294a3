//! Kong itself: Kong 3.9.3 as `scripts/kong-from-source.sh` builds it (found through
//! `KONG_PREFIX`, at `../shared/hosts/kong` or at the script's default `target/kong`), started
//! dbless from a kong.yml with `filter_chains`, the filters and their meta.json in its
//! `wasm_filters_path`, and the project's RESP bridge inside Kong's own nginx through
//! `nginx_http_include`, as kong/README.md tells a user to set it up. Stopped by its nginx
//! master's pid when dropped.

use crate::harness::{dist_dir, TempDir};
use crate::http::{get, Response};
use redis_filters::nginx_config::bridge_to;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasm_test_harness::EchoServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where Kong is installed (`bin/kong`, `openresty/`), if it is.
pub fn kong_prefix() -> Option<PathBuf> {
    let candidates = match std::env::var_os("KONG_PREFIX") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            repo().join("../shared/hosts/kong"),
            repo().join("target/kong"),
        ],
    };
    candidates
        .into_iter()
        .find(|p| p.join("bin/kong").exists() && p.join("openresty/bin/resty").exists())
}

/// Whether Kong can run here; says why not (once per test) when it cannot.
pub fn available(test: &str) -> bool {
    if kong_prefix().is_some() {
        return true;
    }
    let why = "no Kong 3.9 (build it with scripts/kong-from-source.sh and set KONG_PREFIX, or put it at ../shared/hosts/kong)";
    crate::skipped("in Kong", test, why);
    false
}

pub struct Kong {
    /// The proxy listener.
    pub addr: SocketAddr,
    /// The Admin API.
    pub admin: SocketAddr,
    pub echo: SocketAddr,
    echo_server: Option<EchoServer>,
    prefix: PathBuf,
    pub dir: TempDir,
}

impl Kong {
    /// Kong dbless serving `yaml` (`{echo}` names the echo upstream) with one worker; the bridge
    /// lets the filters reach the Redis nodes in `redis_allow` (`host:port`).
    pub fn start(yaml: &str, redis_allow: &[&str]) -> Self {
        Self::start_with(yaml, redis_allow, &[])
    }

    /// `start`, with kong.conf settings of the test's own (`KONG_*` variables).
    pub fn start_with(yaml: &str, redis_allow: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(yaml, redis_allow, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `start_with`, or what `kong start` said when it refused.
    pub fn try_start(
        yaml: &str,
        redis_allow: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let kong = kong_prefix().expect("Kong (check real_kong::available first)");
        let echo_server = EchoServer::start("127.0.0.1:0").expect("echo");
        let echo = echo_server.addr;
        let dir = TempDir::new("kong3");
        let prefix = dir.0.join("prefix");
        let socket = dir.0.join("bridge.sock");
        let (yaml, filters) = declarative(&yaml.replace("{echo}", &echo.to_string()), &socket);
        std::fs::write(dir.0.join("kong.yml"), yaml).unwrap();
        let filters_dir = dir.0.join("filters");
        std::fs::create_dir_all(&filters_dir).unwrap();
        for name in &filters {
            link(&dist_dir().join(format!("{name}.wasm")), &filters_dir);
            link(&repo().join(format!("kong/{name}.meta.json")), &filters_dir);
        }
        std::fs::write(dir.0.join("bridge.conf"), bridge_conf(&socket, redis_allow)).unwrap();

        let (port, admin_port) = (crate::free_port(), crate::free_port());
        let path = |p: &Path| p.display().to_string();
        let lua = format!(
            "{}/?.lua;;",
            path(&repo().join("kong").canonicalize().unwrap())
        );
        let mut vars: Vec<(String, String)> = [
            ("KONG_DATABASE", "off".to_string()),
            ("KONG_DECLARATIVE_CONFIG", path(&dir.0.join("kong.yml"))),
            ("KONG_PROXY_LISTEN", format!("127.0.0.1:{port}")),
            ("KONG_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}")),
            ("KONG_ADMIN_GUI_LISTEN", "off".into()),
            ("KONG_STATUS_LISTEN", "off".into()),
            ("KONG_ROUTER_FLAVOR", "traditional".into()),
            ("KONG_NGINX_WORKER_PROCESSES", "1".into()),
            ("KONG_ANONYMOUS_REPORTS", "off".into()),
            // info: the engine says "successfully loaded" once a module is ready.
            ("KONG_LOG_LEVEL", "info".into()),
            ("KONG_WASM", "on".into()),
            ("KONG_WASM_FILTERS_PATH", path(&filters_dir)),
            ("KONG_NGINX_WASM_SHM_KV", "12m".into()),
            ("KONG_NGINX_HTTP_INCLUDE", path(&dir.0.join("bridge.conf"))),
            ("KONG_LUA_PACKAGE_PATH", lua),
            ("KONG_OPENRESTY_PATH", path(&kong.join("openresty"))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if redis_filters::nginx_config::running_as_root() {
            vars.push(("KONG_NGINX_USER".into(), "root root".into()));
        }
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let out = kong_cmd(&kong, &vars)
            .args(["start", "-p"])
            .arg(&prefix)
            .output()
            .expect("kong start");
        let gw = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            echo,
            echo_server: Some(echo_server),
            prefix,
            dir,
        };
        if !out.status.success() {
            return Err(format!(
                "kong start failed:\n{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                gw.log()
            ));
        }
        gw.wait_ready(filters.len());
        Ok(gw)
    }

    /// Waits until the proxy and the Admin API accept connections and the worker has loaded
    /// every filter (`successfully loaded` once each).
    fn wait_ready(&self, filters: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let loaded = self.log().matches("successfully loaded").count();
            if loaded >= filters
                && TcpStream::connect(self.addr).is_ok()
                && TcpStream::connect(self.admin).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Kong did not start:\n{}", self.log());
    }

    /// A GET of the Admin API.
    pub fn admin_get(&self, path: &str) -> Response {
        get(self.admin, path, &[])
    }

    /// An entity's id by its name, from the Admin API (`routes`, `services`).
    pub fn id_of(&self, kind: &str, name: &str) -> String {
        let r = self.admin_get(&format!("/{kind}/{name}"));
        assert_eq!(r.status, 200, "{kind}/{name}: {}", r.text());
        r.json()["id"].as_str().expect("id").to_string()
    }

    /// Kong's error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default()
    }

    /// The error log's lines at warn and above.
    pub fn errors(&self) -> String {
        let levels = ["[warn]", "[error]", "[crit]", "[alert]", "[emerg]"];
        let log = self.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| levels.iter().any(|level| l.contains(level)))
            .collect();
        crate::log_tail(&lines.join("\n"), 40)
    }

    /// Worker crashes, from the error log.
    pub fn crashes(&self) -> Vec<String> {
        crate::kong::worker_crashes(&self.log())
    }

    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.prefix.join("pids/nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Kong {
    fn drop(&mut self) {
        if let Some(pid) = self.master_pid() {
            let alive = || Path::new(&format!("/proc/{pid}")).exists();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        if let Some(e) = self.echo_server.take() {
            e.stop();
        }
    }
}

/// The `kong` command with Kong's OpenResty first in PATH (`bin/kong` runs under `resty`).
fn kong_cmd(kong: &Path, vars: &[(String, String)]) -> Command {
    let mut cmd = Command::new(kong.join("bin/kong"));
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env(
        "PATH",
        format!(
            "{}:{}:{path}",
            kong.join("openresty/bin").display(),
            kong.join("openresty/nginx/sbin").display()
        ),
    );
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn link(file: &Path, dir: &Path) {
    if file.exists() {
        let target = dir.join(file.file_name().unwrap());
        let _ = std::os::unix::fs::symlink(file.canonicalize().unwrap(), target);
    }
}

/// The kong.yml Kong is given: every filter config as a JSON object with its Redis reached
/// through the bridge's socket (as the engine tests' rendering does), and the names of the
/// filters it uses (only those are put in `wasm_filters_path`: each is compiled at start).
pub fn declarative(yaml: &str, socket: &Path) -> (String, BTreeSet<String>) {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(yaml).expect("kong.yml");
    let mut names = BTreeSet::new();
    visit_chains(&mut doc, &mut |filter| {
        if let Some(name) = filter.get("name").and_then(|n| n.as_str()) {
            names.insert(name.to_string());
        }
        let Some(config) = filter.get_mut("config") else {
            return;
        };
        let mut json: Value = match &*config {
            serde_yaml::Value::String(s) => match serde_json::from_str(s) {
                Ok(v) => v,
                Err(_) => return,
            },
            other => serde_json::to_value(other).expect("config as JSON"),
        };
        bridge_to(&mut json, socket);
        *config = serde_yaml::to_value(json).expect("config as YAML");
    });
    (serde_yaml::to_string(&doc).expect("kong.yml"), names)
}

/// Calls `f` with every filter of every `filter_chains` in the document.
fn visit_chains(node: &mut serde_yaml::Value, f: &mut dyn FnMut(&mut serde_yaml::Value)) {
    match node {
        serde_yaml::Value::Mapping(map) => {
            for (key, value) in map.iter_mut() {
                if key.as_str() == Some("filter_chains") {
                    for chain in value.as_sequence_mut().into_iter().flatten() {
                        let filters = chain.get_mut("filters").and_then(|f| f.as_sequence_mut());
                        for filter in filters.into_iter().flatten() {
                            f(filter);
                        }
                    }
                } else {
                    visit_chains(value, f);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                visit_chains(item, f);
            }
        }
        _ => {}
    }
}

/// kong/redis-bridge.conf as a user edits it: its socket and its allowlist.
fn bridge_conf(socket: &Path, redis_allow: &[&str]) -> String {
    let conf = std::fs::read_to_string(repo().join("kong/redis-bridge.conf")).unwrap();
    let allow = format!("set $redis_bridge_allow \"{}\";", redis_allow.join(" "));
    conf.lines()
        .map(|l| {
            if l.trim_start().starts_with("listen unix:") {
                format!("    listen unix:{};", socket.display())
            } else if l.trim_start().starts_with("set $redis_bridge_allow") {
                format!("    {allow}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
