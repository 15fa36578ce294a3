//! Starts the harness in-process for a test: an echo upstream and a gateway serving a kong.yml
//! (with `{echo}` replaced by the echo server's address), both stopped when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use wasm_test_harness::{EchoServer, Gateway, GatewayOptions, Profile};

/// Where `scripts/build-wasm.sh --test-filters` puts the harness' test filters.
pub fn test_filters_dir() -> PathBuf {
    let dir = std::env::var_os("TEST_FILTERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target-wasm/test-filters")
        });
    assert!(
        dir.join("probe.wasm").exists(),
        "test filters missing in {}: run scripts/build-wasm.sh --test-filters",
        dir.display()
    );
    dir
}

/// Where `scripts/build-wasm.sh` puts the product filters.
pub fn dist_dir() -> PathBuf {
    std::env::var_os("FILTERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"))
}

pub struct TestGateway {
    pub addr: SocketAddr,
    pub echo: SocketAddr,
    gateway: Option<Gateway>,
    echo_server: Option<EchoServer>,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("harness-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Setup<'a> {
    pub yaml: &'a str,
    pub profile: Profile,
    pub workers: usize,
    pub tunnels: Vec<String>,
    pub filters: PathBuf,
    pub redis_ca: Option<PathBuf>,
}

impl<'a> Setup<'a> {
    pub fn new(yaml: &'a str) -> Self {
        Self {
            yaml,
            profile: Profile::Kong,
            workers: 2,
            tunnels: vec!["redis_tunnel".into()],
            filters: test_filters_dir(),
            redis_ca: None,
        }
    }

    /// The CA bundle the gateway checks Redis' certificates against (`--redis-ca`).
    pub fn redis_ca(mut self, path: PathBuf) -> Self {
        self.redis_ca = Some(path);
        self
    }

    pub fn profile(mut self, p: Profile) -> Self {
        self.profile = p;
        self
    }

    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    pub fn filters(mut self, dir: PathBuf) -> Self {
        self.filters = dir;
        self
    }

    pub fn start(self) -> TestGateway {
        let echo_server = EchoServer::start("127.0.0.1:0").expect("echo");
        let echo = echo_server.addr;
        let dir = TempDir::new("gw");
        let config = dir.0.join("kong.yml");
        std::fs::write(&config, self.yaml.replace("{echo}", &echo.to_string()))
            .expect("write kong.yml");
        let mut opts = GatewayOptions::new(&config, &self.filters);
        opts.profile = self.profile;
        opts.workers = self.workers;
        opts.redis_tunnels = self.tunnels;
        opts.redis_ca = self.redis_ca;
        let gateway = Gateway::start(opts).unwrap_or_else(|e| panic!("gateway: {e}"));
        TestGateway {
            addr: gateway.addr,
            echo,
            gateway: Some(gateway),
            echo_server: Some(echo_server),
            _dir: dir,
        }
    }
}

impl TestGateway {
    pub fn metrics(&self) -> serde_json::Value {
        crate::http::get(self.addr, "/__harness/metrics", &[]).json()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
        if let Some(e) = self.echo_server.take() {
            e.stop();
        }
    }
}

/// The project's filters (`dist/`) and the test filters in one fresh directory, for chains that
/// put a test filter (consumer-stub, standing in for an authentication filter) before ours.
pub fn dist_and_test_filters() -> TempDir {
    let dir = TempDir::new("filters");
    for source in [dist_dir(), test_filters_dir()] {
        for entry in std::fs::read_dir(source).expect("filters dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "wasm") {
                let name = path.file_name().expect("file name");
                std::fs::copy(&path, dir.0.join(name)).expect("copy a filter");
            }
        }
    }
    dir
}
