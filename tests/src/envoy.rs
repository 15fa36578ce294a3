//! A real Envoy (from the project's venv) serving a kong.yml rendered by
//! `redis_filters::envoy_config`, with the harness' echo server as upstream. Stopped (by
//! pid) when dropped.

use crate::harness::TempDir;
use redis_filters::envoy_config::{render, EnvoyOptions};
use redis_filters::kong_config::KongConfig;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasm_test_harness::EchoServer;

/// `envoy --mode validate` of the config at `config`; fails the test with Envoy's reasons.
pub fn validate(config: &std::path::Path) {
    let out = envoy_command()
        .args(["--mode", "validate", "-c", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Which build of the filters the Envoy tests load: the Wasm modules, or with
/// `E2E_ENVOY_BUILD=native` the dynamic module (`dist/native/libredis_filters.so`, from
/// scripts/build-native.sh). `scripts/test.sh` runs the Envoy tests once with each.
pub fn native_build() -> bool {
    std::env::var("E2E_ENVOY_BUILD").is_ok_and(|b| b == "native")
}

/// Where scripts/build-native.sh puts `libredis_filters.so`.
pub fn native_module_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/native");
    assert!(
        dir.join("libredis_filters.so").is_file(),
        "no {}/libredis_filters.so: build it with bash scripts/build-native.sh",
        dir.display()
    );
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The wheel's Envoy, finding the dynamic module in the build the tests load (`native_build`).
fn envoy_command() -> Command {
    let mut command = Command::new(envoy_bin());
    if native_build() {
        command.env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", native_module_dir());
    }
    command
}

pub fn envoy_bin() -> PathBuf {
    std::env::var_os("ENVOY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/envoy"))
}

pub struct EnvoyGateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub echo: SocketAddr,
    child: Child,
    echo_server: Option<EchoServer>,
    dir: TempDir,
}

impl EnvoyGateway {
    pub fn start(yaml: &str, filters: &std::path::Path, concurrency: usize) -> Self {
        Self::start_with(yaml, filters, concurrency, &[], |_| {})
    }

    /// `start` with `--redis-allow` entries, and `edit` applied to the rendered config before
    /// Envoy reads it (to add a listener only a test needs).
    pub fn start_with(
        yaml: &str,
        filters: &std::path::Path,
        concurrency: usize,
        redis_allow: &[&str],
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Self {
        Self::start_full(yaml, filters, concurrency, redis_allow, None, edit)
    }

    /// `start_with`, the tunnel checking Redis' certificates against `redis_ca`.
    pub fn start_full(
        yaml: &str,
        filters: &std::path::Path,
        concurrency: usize,
        redis_allow: &[&str],
        redis_ca: Option<&std::path::Path>,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Self {
        let echo_server = EchoServer::start("127.0.0.1:0").expect("echo");
        let echo = echo_server.addr;
        let dir = TempDir::new("envoy");
        let config =
            KongConfig::parse(&yaml.replace("{echo}", &echo.to_string())).expect("kong.yml");
        let (port, admin_port) = (crate::free_port(), crate::free_port());
        let filters = std::fs::canonicalize(filters).expect("filters dir");
        let opts = EnvoyOptions {
            filters_path: &filters,
            listen: ("127.0.0.1".into(), port),
            admin: Some(("127.0.0.1".into(), admin_port)),
            redis_allow: redis_allow.iter().map(|a| a.to_string()).collect(),
            xff_trusted_hops: 0,
            redis_ca: redis_ca.map(std::path::Path::to_path_buf),
            native: native_build(),
        };
        let mut rendered = render(&config, &opts).expect("render");
        edit(&mut rendered);
        let path = dir.0.join("envoy.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&rendered).unwrap()).unwrap();
        let log = std::fs::File::create(dir.0.join("envoy.log")).unwrap();
        let mut command = envoy_command();
        if let (true, Some(ca)) = (native_build(), redis_ca) {
            // The module's own connections to Redis check certificates against it
            // (docs/envoy-dynamic-modules.md).
            command.env("REDIS_FILTERS_REDIS_CA", ca);
        }
        let child = command
            .args([
                "-c",
                path.to_str().unwrap(),
                "--concurrency",
                &concurrency.to_string(),
                "--disable-hot-restart",
                "-l",
                &std::env::var("ENVOY_LOG_LEVEL").unwrap_or_else(|_| "warning".into()),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("envoy must be installed (scripts/setup.sh puts it in .venv)");
        let gw = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            echo,
            child,
            echo_server: Some(echo_server),
            dir,
        };
        gw.wait_ready();
        gw
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("envoy did not start:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("envoy.log")).unwrap_or_default()
    }

    /// A counter or gauge from Envoy's stats (`wasmcustom.` prefix for filter metrics).
    /// Envoy's process id (to read its memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stat(&self, name: &str) -> Option<u64> {
        let body = crate::http::get(self.admin, "/stats?format=json", &[]).json();
        body["stats"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name)?["value"]
            .as_u64()
    }
}

impl Drop for EnvoyGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(e) = self.echo_server.take() {
            e.stop();
        }
    }
}
