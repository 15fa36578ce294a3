//! Envoy-specific: rendered configs validate and serve, the SDK example filters behave as on
//! the harness, and the RESP tunnel reaches only the Redis nodes the configs allow.

use e2e_tests::envoy::{validate, EnvoyGateway};
use e2e_tests::harness::{dist_dir, test_filters_dir, TempDir};
use e2e_tests::http::{get, request};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::RedisServer;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One folder with the product filters and the test filters, as Envoy loads them by path.
fn all_filters(dir: &TempDir) -> PathBuf {
    let out = dir.0.join("filters");
    std::fs::create_dir_all(&out).unwrap();
    for src in [dist_dir(), test_filters_dir()] {
        for entry in std::fs::read_dir(src).unwrap().flatten() {
            let _ = std::os::unix::fs::symlink(entry.path(), out.join(entry.file_name()));
        }
    }
    out
}

#[test]
fn the_demo_config_renders_to_a_valid_envoy_config() {
    let dir = TempDir::new("render");
    let yaml =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/kong.yml"))
            .unwrap()
            .replace("${ECHO_PORT}", "9000")
            .replace("${REDIS_PORT}", "6379");
    let kong = dir.0.join("kong.yml");
    std::fs::write(&kong, yaml).unwrap();
    let config = redis_filters::kong_config::KongConfig::load(&kong).unwrap();
    let filters = std::fs::canonicalize(dist_dir()).unwrap();
    let opts = redis_filters::envoy_config::EnvoyOptions {
        filters_path: &filters,
        listen: ("127.0.0.1".into(), 8000),
        admin: None,
        redis_allow: vec!["10.1.2.3:*".into()],
        xff_trusted_hops: 0,
        redis_ca: None,
        native: e2e_tests::envoy::native_build(),
    };
    let rendered = redis_filters::envoy_config::render(&config, &opts).unwrap();
    let path = dir.0.join("envoy.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&rendered).unwrap()).unwrap();
    validate(&path);
}

/// The SDK's examples and the probe, and a rate-limited route on the Redis at `redis_port`.
fn sdk_and_tunnel(redis_port: u16) -> String {
    let limit = format!(r#"{{"year": 100, "policy": "redis", "redis_port": {redis_port}}}"#);
    KongYml::new()
        .route(Route::at("/h").name("hello").filter("http-headers", ""))
        .route(
            Route::at("/s")
                .name("secret")
                .strip_path(false)
                .filter("http-body", ""),
        )
        .route(
            Route::at("/probe")
                .name("probe")
                .strip_path(false)
                .filter("probe", ""),
        )
        .route(
            Route::at("/limited")
                .name("limited")
                .filter("redis-rate-limiting", &limit),
        )
        .to_string()
}

#[test]
fn sdk_examples_serve_in_envoy_as_in_the_harness() {
    let dir = TempDir::new("sdk");
    let filters = all_filters(&dir);
    let gw = EnvoyGateway::start(&sdk_and_tunnel(6379), &filters, 1);
    let r = get(gw.addr, "/h/x", &[]);
    assert_eq!(r.status, 200, "{}", gw.log());
    assert_eq!(r.header("powered-by"), Some("proxy-wasm"));
    let r = get(gw.addr, "/s/secret", &[]);
    assert_eq!(r.json()["path"], "/s/******");
    let r = get(gw.addr, "/probe/dispatch-in-response", &[]);
    assert_eq!(
        r.header("x-dispatch-result"),
        Some("ok"),
        "Envoy allows a dispatch from the response phase"
    );
}

#[test]
fn the_tunnel_refuses_a_node_that_is_not_configured() {
    let redis = RedisServer::start(&[]);
    let dir = TempDir::new("tunnel");
    let filters = all_filters(&dir);
    let gw = EnvoyGateway::start(&sdk_and_tunnel(redis.port), &filters, 1);
    assert_eq!(get(gw.addr, "/limited", &[]).status, 200, "{}", gw.log());
    assert_eq!(
        redis.calls("eval") + redis.calls("evalsha"),
        2,
        "the configured node is reached"
    );
    // The probe dispatches into the tunnel with `:authority: echo`, which is no Redis node.
    let r = get(
        gw.addr,
        "/probe/dispatch",
        &[("x-upstream", "redis_tunnel")],
    );
    assert_eq!(r.header("x-call-status"), Some("404"), "{:?}", r.headers);
    // And the tunnel is not reachable from outside: its listener is internal.
    let r = get(
        gw.addr,
        "/probe/dispatch",
        &[("x-upstream", "redis_tunnel_listener")],
    );
    assert_eq!(r.status, 502, "not a cluster name");
}

/// A Redis Cluster config with one seed. The renderer reads the `redis` block of any filter's
/// config, so this one rides on `http-headers` (which ignores its config): the test is about the
/// tunnel, not about a filter's Cluster support.
fn cluster_tunnel(seed: u16) -> String {
    let config =
        format!(r#"{{"redis": {{"cluster_nodes": [{{"ip": "127.0.0.1", "port": {seed}}}]}}}}"#);
    let route = Route::at("/h")
        .name("hello")
        .filter("http-headers", &config);
    KongYml::new().route(route).to_string()
}

/// A listener for the test only: any request goes into the tunnel with its `:authority` taken
/// from `x-node`, as a filter's `dispatch_http_call` into the tunnel sets it.
fn tunnel_door(port: u16) -> serde_json::Value {
    json!({
        "name": "test_tunnel_door",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "test_tunnel_door",
            "route_config": {"virtual_hosts": [{"name": "door", "domains": ["*"], "routes": [{"match": {"prefix": "/"},
                "route": {"cluster": "redis_tunnel", "host_rewrite_header": "x-node", "timeout": "10s"}}]}]},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
        }}]}]
    })
}

#[test]
fn the_tunnel_reaches_any_port_of_a_cluster_host_and_nothing_else() {
    let seed = RedisServer::start(&[]);
    // Another port of the seed's host: a node `CLUSTER SLOTS` may report that the config does
    // not list.
    let other = RedisServer::start(&[]);
    let dir = TempDir::new("cluster-tunnel");
    let filters = all_filters(&dir);
    let door_port = e2e_tests::free_port();
    let allowed = format!("localhost:{}", other.port);
    let gw = EnvoyGateway::start_with(
        &cluster_tunnel(seed.port),
        &filters,
        1,
        &[&allowed],
        |config| {
            config["static_resources"]["listeners"]
                .as_array_mut()
                .unwrap()
                .push(tunnel_door(door_port));
        },
    );
    let door = SocketAddr::from(([127, 0, 0, 1], door_port));
    let ping = |node: &str| {
        request(
            door,
            "POST",
            "/",
            &[("x-node", node)],
            b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n",
        )
    };
    for node in [seed.addr(), other.addr(), allowed.clone()] {
        let r = ping(&node);
        assert_eq!(r.status, 200, "{node}: {}\n{}", r.text(), gw.log());
        assert_eq!(r.text(), "+PONG\r\n+OK\r\n", "{node}");
    }
    assert_eq!(other.calls("ping"), 2, "the unlisted node was reached");
    for node in [
        "10.1.2.3:6379".to_string(),
        // The same machine under a name that is neither configured nor allowed.
        format!("localhost:{}", seed.port),
        // Envoy's `127.0.0.1:*` domain matches this too; the route's `:authority` check does not.
        format!("127.0.0.1:{}.localhost", other.port),
        format!("127.0.0.1:{}@10.1.2.3", other.port),
        "127.0.0.1".to_string(),
    ] {
        let r = ping(&node);
        assert_eq!(r.status, 404, "{node}: {}", r.text());
    }
    assert_eq!(other.calls("ping"), 2);
}
