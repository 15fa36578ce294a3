//! The filters as an Envoy dynamic module (native/, issue 33, its first step), in the wheel's
//! Envoy 1.40: the module loads (so an ABI that no longer fits fails here, not for a user), takes
//! a filter's config by its Kong name with the Wasm filter's JSON, refuses a bad field or an
//! unknown filter naming it, and lets requests through. It reaches Redis over its own
//! connections, with no tunnel in Envoy's config, unless the tunnel path is asked for. An idle
//! worker's `sync_rate` counts still reach Redis (its work goes to the main thread), and Envoy
//! then stops cleanly.

use e2e_tests::envoy::{envoy_bin, native_module_dir as module_dir};
use e2e_tests::harness::TempDir;
use e2e_tests::http::get;
use e2e_tests::redis_server::RedisServer;
use e2e_tests::{eventually, free_port};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use wasm_test_harness::EchoServer;

/// A listener on `port` whose one route goes to `upstream` through the module's `filter`.
fn envoy_config(port: u16, upstream: SocketAddr, filter: &str, config: &str) -> Value {
    let socket = |address: String, port: u16| json!({"socket_address": {"address": address, "port_value": port}});
    json!({
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": socket("127.0.0.1".into(), port),
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "main",
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}]}]},
                        "http_filters": [
                            {"name": "envoy.filters.http.dynamic_modules", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
                                "dynamic_module_config": {"name": "redis_filters", "do_not_close": true},
                                "filter_name": filter,
                                "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": config}
                            }},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
                        ]
                    }
                }]}]
            }],
            "clusters": [{
                "name": "echo", "type": "STATIC", "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "echo", "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": socket(upstream.ip().to_string(), upstream.port())}}]}]}
            }]
        }
    })
}

fn envoy(dir: &Path, config: &Value) -> Command {
    let path = dir.join("envoy.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    let mut cmd = Command::new(envoy_bin());
    cmd.env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", module_dir())
        .args(["-c", path.to_str().unwrap(), "--disable-hot-restart"]);
    cmd
}

/// Envoy started on `config` (one worker), its address, and the child to stop.
fn run_envoy(dir: &Path, config: &Value, port: u16, env: &[(&str, &str)]) -> (SocketAddr, Child) {
    let log_file = std::fs::File::create(dir.join("envoy.log")).unwrap();
    let child = envoy(dir, config)
        .envs(env.iter().copied())
        .args(["--concurrency", "1", "-l", "info"])
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually("Envoy listening", Duration::from_secs(20), || {
        TcpStream::connect(addr).is_ok()
    });
    (addr, child)
}

fn validate(dir: &Path, config: &Value) -> Output {
    envoy(dir, config)
        .args(["--mode", "validate"])
        .output()
        .unwrap()
}

#[test]
fn the_module_loads_takes_a_filters_config_and_lets_requests_through() {
    let dir = TempDir::new("native");
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let port = free_port();
    let config = envoy_config(port, echo.addr, "redis-rate-limiting", r#"{"minute": 5}"#);
    let out = validate(&dir.0, &config);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ABI version v0.2.0 matched"), "{log}");

    let (addr, mut child) = run_envoy(&dir.0, &config, port, &[]);
    let r = get(addr, "/through", &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/through");
}

#[test]
fn a_bad_field_or_an_unknown_filter_is_refused_at_load_naming_it() {
    let dir = TempDir::new("native-refused");
    let upstream = SocketAddr::from(([127, 0, 0, 1], 9));
    let bad = envoy_config(
        free_port(),
        upstream,
        "redis-rate-limiting",
        r#"{"minute": "ten"}"#,
    );
    let out = validate(&dir.0, &bad);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("redis_filters: redis-rate-limiting: ") && log.contains("minute"),
        "{log}"
    );

    let unknown = envoy_config(free_port(), upstream, "redis-nothing", "{}");
    let out = validate(&dir.0, &unknown);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("filter_name: no filter \"redis-nothing\""),
        "{log}"
    );
}

#[test]
fn the_module_counts_in_redis_over_its_own_connections_with_no_tunnel() {
    let dir = TempDir::new("native-direct");
    let redis = RedisServer::start(&[]);
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let filter = json!({"minute": 3, "policy": "redis", "fault_tolerant": true,
        "redis": {"host": "127.0.0.1", "port": redis.port}})
    .to_string();
    // No tunnel cluster in this config: only the module's own connections reach Redis.
    let port = free_port();
    let config = envoy_config(port, echo.addr, "redis-rate-limiting", &filter);
    let (addr, mut child) = run_envoy(&dir.0, &config, port, &[]);
    let statuses: Vec<u16> = (0..4).map(|_| get(addr, "/", &[]).status).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let keys = String::from_utf8(redis.cmd(&["KEYS", "ratelimit:*"])).unwrap();
    assert!(keys.contains(":minute"), "{keys}");

    // The tunnel path, asked for, goes through Envoy's tunnel cluster, which this config lacks:
    // Redis is unreachable and fault_tolerant lets every request through, uncounted.
    redis.flush_all();
    let port = free_port();
    let config = envoy_config(port, echo.addr, "redis-rate-limiting", &filter);
    let (addr, mut child) = run_envoy(
        &dir.0,
        &config,
        port,
        &[("REDIS_FILTERS_REDIS_PATH", "tunnel")],
    );
    let statuses: Vec<u16> = (0..4).map(|_| get(addr, "/", &[]).status).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, [200; 4]);
    let keys = String::from_utf8(redis.cmd(&["KEYS", "ratelimit:*"])).unwrap();
    assert!(!keys.contains("ratelimit:"), "{keys}");
}

#[test]
fn an_idle_workers_sync_rate_counts_reach_redis_and_envoy_stops_cleanly() {
    let limit = json!({"minute": 100, "policy": "redis", "sync_rate": 0.5});
    idle_worker_counts("redis-rate-limiting", |redis| {
        let mut config = limit.clone();
        config["redis"] = redis;
        config
    });
    // In a chain, the chain hands over each of its filters' work.
    idle_worker_counts("redis-chain", |redis| {
        let mut config = limit.clone();
        config["redis"] = redis;
        json!({"filters": [{"name": "redis-rate-limiting", "config": config}]})
    });
}

/// Five requests through `filter` (its config made with the test's Redis), then none: the five
/// counts reach Redis, and SIGTERM stops Envoy cleanly.
fn idle_worker_counts(filter: &str, config: impl Fn(Value) -> Value) {
    let dir = TempDir::new("native-idle");
    let redis = RedisServer::start(&[]);
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let filter_config = config(json!({"host": "127.0.0.1", "port": redis.port})).to_string();
    let port = free_port();
    let config = envoy_config(port, echo.addr, filter, &filter_config);
    let (addr, child) = run_envoy(&dir.0, &config, port, &[]);
    // Stopped if an assertion fails first.
    let mut envoy = Stopped(Some(child));
    // Within one sync interval: all but the first request's count wait for the next flush,
    // and then the worker has no request left to tick in.
    let statuses: Vec<u16> = (0..5).map(|_| get(addr, "/", &[]).status).collect();
    assert_eq!(statuses, [200; 5], "{filter}");
    let total = || {
        let keys = String::from_utf8(redis.cmd(&["KEYS", "ratelimit:*:minute"])).unwrap();
        let key = keys
            .lines()
            .find(|l| l.starts_with("ratelimit:"))?
            .to_string();
        String::from_utf8(redis.cmd(&["GET", &key])).ok()
    };
    eventually(
        &format!("{filter}: the idle worker's counts in Redis"),
        Duration::from_secs(5),
        || {
            // A bulk string: `$1`, then the total.
            total().is_some_and(|t| t.lines().nth(1) == Some("5"))
        },
    );

    // The main thread still ticks (its root holds the key for a while): SIGTERM stops Envoy
    // cleanly, with no event reaching a freed scheduler.
    let mut child = envoy.0.take().unwrap();
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(dir.0.join("envoy.log")).unwrap();
    assert!(status.success(), "{filter}: {status:?}\n{log}");
    assert!(!log.contains("Caught "), "{filter}: {log}");
}

/// A child process killed when dropped, unless taken out first.
struct Stopped(Option<Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
