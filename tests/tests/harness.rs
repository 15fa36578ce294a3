//! wasm-test-harness end to end: kong.yml served for real, filters built with the proxy-wasm SDK
//! and with this project's guest layer, real upstreams, real redis-server, both host profiles.

use e2e_tests::http::{get, request};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::{RedisServer, Setup};
use std::collections::HashSet;
use wasm_test_harness::Profile;

const TWO_SERVICES: &str = r#"
_format_version: "3.0"
services:
- name: echo
  url: http://{echo}/up
  routes:
  - name: headers
    paths: [/h]
    filter_chains:
    - filters:
      - name: http-headers
  - name: plain
    paths: [/plain]
- name: second
  url: http://{echo}
  filter_chains:
  - name: body-chain
    filters:
    - name: http-body
    - name: http-headers
      enabled: false
  routes:
  - name: second-route
    paths: [/second]
    strip_path: false
"#;

#[test]
fn serves_two_services_with_routes_and_a_filter_chain() {
    let gw = Setup::new(TWO_SERVICES).start();
    let r = get(gw.addr, "/h/x?a=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("powered-by"), Some("proxy-wasm"));
    let echoed = r.json();
    assert_eq!(echoed["path"], "/up/x");
    assert_eq!(echoed["query"], "a=1");

    let r = get(gw.addr, "/plain", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("powered-by"), None, "no filter on this route");

    // http_body rewrites the upstream's body; the disabled filter does not run.
    let r = get(gw.addr, "/second/secret", &[]);
    assert_eq!(r.json()["path"], "/second/******");
    assert_eq!(r.header("powered-by"), None);

    let r = get(gw.addr, "/nothing-here", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "no Route matched with those values");
}

#[test]
fn sdk_http_headers_answers_locally_and_the_response_phase_still_runs() {
    let gw = Setup::new(TWO_SERVICES).start();
    // `/hello` matches the `/h` route (prefix); the filter answers it without the upstream.
    let r = get(gw.addr, "/hello", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Kong's engine (the kong profile's default) adds a newline after a local body.
    assert_eq!(r.text(), "Hello, World!\n\n");
    assert_eq!(r.header("hello"), Some("World"));
    assert_eq!(r.header("powered-by"), Some("proxy-wasm"));
}

fn probe() -> String {
    let route = Route::at("/probe").name("probe").strip_path(false);
    KongYml::new()
        .route(route.filter("probe", r#""tick mark""#))
        .to_string()
}

#[test]
fn shared_data_is_consistent_across_two_workers_under_concurrency() {
    let gw = Setup::new(&probe()).workers(2).start();
    let addr = gw.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| {
                        get(addr, "/probe/shared-incr", &[])
                            .header("x-counter")
                            .unwrap()
                            .parse::<u64>()
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let seen: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 200);
    assert_eq!(
        distinct.len(),
        200,
        "every compare-and-swap increment is unique"
    );
    assert_eq!(*distinct.iter().max().unwrap(), 200);
}

#[test]
fn properties_metrics_ticks_queues_and_bodies() {
    let gw = Setup::new(&probe()).workers(1).start();
    let props = get(gw.addr, "/probe/props", &[]).text();
    assert!(props.contains("path=/probe/props"), "{props}");
    assert!(props.contains("method=GET"), "{props}");
    assert!(props.contains("source=127.0.0.1:"), "{props}");
    let route_id = props
        .lines()
        .find_map(|l| l.strip_prefix("route_id="))
        .unwrap();
    assert_eq!(route_id.len(), 36, "{props}");

    assert_eq!(
        get(gw.addr, "/probe/metric", &[]).header("x-metric"),
        Some("1")
    );
    assert_eq!(
        get(gw.addr, "/probe/metric", &[]).header("x-metric"),
        Some("2")
    );
    assert_eq!(gw.metrics()["probe_requests"], 2);

    let ticks = || -> u64 {
        let r = get(gw.addr, "/probe/ticks", &[]);
        r.header("x-ticks").unwrap().parse().unwrap()
    };
    e2e_tests::eventually(
        "three ticks (one every 20 ms)",
        std::time::Duration::from_secs(5),
        || ticks() >= 3,
    );

    assert_eq!(
        get(gw.addr, "/probe/queue", &[]).header("x-queue"),
        Some("item")
    );

    let r = request(gw.addr, "POST", "/probe/body", &[], b"make me loud");
    assert_eq!(r.json()["body"], "MAKE ME LOUD");
    let r = get(gw.addr, "/probe/anything", &[]);
    assert_eq!(r.json()["headers"]["x-probe-request"], "marked");
    assert_eq!(r.header("x-probe"), Some("seen"));
}

#[test]
fn dispatch_reaches_a_real_upstream_in_both_profiles() {
    let gw = Setup::new(&probe()).start();
    let upstream = gw.echo.to_string();
    let r = get(
        gw.addr,
        "/probe/dispatch",
        &[
            ("x-upstream", &upstream),
            ("x-call-path", "/called?status=201"),
        ],
    );
    assert_eq!(r.header("x-call-status"), Some("201"));
    assert!(r.text().contains("\"path\":\"/called\""), "{}", r.text());

    let gw = Setup::new(&probe()).profile(Profile::Envoy).start();
    let r = get(gw.addr, "/probe/dispatch", &[("x-upstream", "echo")]);
    assert_eq!(
        r.header("x-call-status"),
        Some("200"),
        "cluster name resolves in envoy profile"
    );
    let r = get(gw.addr, "/probe/dispatch", &[("x-upstream", &upstream)]);
    assert_eq!(r.status, 502, "host:port is not an Envoy cluster");
}

#[test]
fn a_dead_or_slow_upstream_fails_the_way_each_host_reports_it() {
    let dead = format!("127.0.0.1:{}", e2e_tests::free_port());
    let gw = Setup::new(&probe()).start();
    let r = get(gw.addr, "/probe/dispatch", &[("x-upstream", &dead)]);
    assert_eq!(r.header("x-dispatch-status"), Some("broken connection"));
    assert_eq!(r.header("x-call-status"), Some("none"));
    let slow = gw.echo.to_string();
    let r = get(
        gw.addr,
        "/probe/dispatch",
        &[("x-upstream", &slow), ("x-call-path", "/?delay_ms=2000")],
    );
    assert_eq!(r.header("x-dispatch-status"), Some("timeout"));

    let gw = Setup::new(&probe()).profile(Profile::Envoy).start();
    let r = get(
        gw.addr,
        "/probe/dispatch",
        &[("x-upstream", "echo"), ("x-call-path", "/?delay_ms=2000")],
    );
    assert_eq!(r.header("x-call-status"), Some("504"));
}

#[test]
fn kong_profile_refuses_a_dispatch_from_the_response_phase_and_recycles_the_instance() {
    let gw = Setup::new(&probe()).workers(1).start();
    assert_eq!(
        get(gw.addr, "/probe/state", &[]).header("x-seen"),
        Some("1")
    );
    assert_eq!(
        get(gw.addr, "/probe/state", &[]).header("x-seen"),
        Some("2")
    );
    let r = get(gw.addr, "/probe/dispatch-in-response", &[]);
    assert_eq!(
        r.status, 200,
        "the client still gets the upstream's response"
    );
    assert_eq!(r.header("x-dispatch-result"), Some("refused"));
    assert_eq!(
        get(gw.addr, "/probe/state", &[]).header("x-seen"),
        Some("1"),
        "instance state was lost"
    );

    let gw = Setup::new(&probe())
        .workers(1)
        .profile(Profile::Envoy)
        .start();
    let r = get(gw.addr, "/probe/dispatch-in-response", &[]);
    assert_eq!(r.header("x-dispatch-result"), Some("ok"), "Envoy allows it");
}

#[test]
fn a_filter_that_panics_gets_a_500_and_the_process_keeps_serving() {
    let gw = Setup::new(&probe()).workers(1).start();
    for _ in 0..3 {
        let r = get(gw.addr, "/probe/panic", &[]);
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["message"], "An unexpected error occurred");
        assert_eq!(get(gw.addr, "/probe/state", &[]).status, 200);
    }
}

fn auth() -> String {
    let config = r#"{"upstream": "{echo}", "authority": "echo"}"#;
    let route = Route::at("/")
        .name("auth")
        .filter("http-auth-random", config);
    KongYml::new().route(route).to_string()
}

#[test]
fn sdk_http_auth_dispatch_pauses_and_resumes_or_forbids() {
    let gw = Setup::new(&auth()).start();
    let r = get(gw.addr, "/resource", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-auth"], "passed");
    let r = get(gw.addr, "/resource", &[("x-auth-status", "401")]);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "Access forbidden.\n\n",
        "the engine's newline after the body"
    );
}

fn redis_yaml(port: u16) -> String {
    let config = format!(r#"{{"redis": {{"port": {port}}}}}"#);
    let route = Route::at("/").name("redis").filter("redis-probe", &config);
    KongYml::new().route(route).to_string()
}

#[test]
fn a_tunnel_reaches_real_redis_over_pooled_connections() {
    let redis = RedisServer::start(&[]);
    let yaml = redis_yaml(redis.port);
    let gw = Setup::new(&yaml).workers(2).start();
    for i in 1..=20 {
        let r = get(gw.addr, "/", &[("x-key", "tunnel")]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-redis-count"), Some(i.to_string().as_str()));
        assert_eq!(r.json()["headers"]["x-redis-count"], i.to_string());
    }
    let connections: u64 = redis
        .info_field("stats", "total_connections_received")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        connections <= 4,
        "QUIT is answered by the tunnel, connections are reused: {connections}"
    );
    assert_eq!(redis.calls("quit"), 1, "only our own INFO connection quit");
}

/// Envoy lets one request's callback resume another, so requests share tunnel calls; Kong's
/// engine does not, so there each request makes its own call (the bridge pools the Redis
/// connections instead).
#[test]
fn concurrent_requests_share_tunnel_calls_where_the_host_allows_it() {
    for (profile, key) in [
        (Profile::Envoy, "batch-envoy"),
        (Profile::Kong, "batch-kong"),
    ] {
        let redis = RedisServer::start(&[]);
        let yaml = redis_yaml(redis.port);
        let gw = Setup::new(&yaml).profile(profile).workers(1).start();
        let addr = gw.addr;
        let threads: Vec<_> = (0..16)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..20)
                        .map(|_| get(addr, "/", &[("x-key", key)]).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let statuses: Vec<u16> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "{profile:?}: {statuses:?}"
        );
        assert_eq!(redis.cmd(&["GET", key]), b"$3\r\n320\r\n");
        assert_eq!(redis.calls("incr"), 320);
        let calls = gw.metrics()["harness.tunnel_calls"].as_u64().unwrap();
        match profile {
            Profile::Envoy => assert!(calls < 320, "batched: {calls} tunnel calls for 320"),
            Profile::Kong => assert_eq!(calls, 320, "one call per request in Kong's engine"),
        }
    }
}

#[test]
fn redis_down_is_a_clean_error_not_a_hang() {
    let port = e2e_tests::free_port();
    let yaml = redis_yaml(port);
    let gw = Setup::new(&yaml).start();
    let r = get(gw.addr, "/", &[]);
    assert_eq!(r.status, 503);
    assert!(
        r.header("x-redis-error").unwrap().contains("transport"),
        "{:?}",
        r.headers
    );
}

/// `--profile kong` runs each module as Kong's engine would (wasm_test_harness::kong_rules):
/// every filter here survives the rewrite as a valid module, and a module without the callbacks
/// the engine calls unchecked is refused at start.
#[test]
fn the_kong_profile_rewrites_modules_validly_and_refuses_missing_callbacks() {
    use wasm_test_harness::kong_rules::{as_kong_engine, check_exports};
    let dirs = [
        e2e_tests::harness::test_filters_dir(),
        e2e_tests::harness::dist_dir(),
    ];
    let mut seen = 0;
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "wasm") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let rewritten = as_kong_engine(&bytes).unwrap();
            wasmparser_validate(&rewritten).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            check_exports("f", &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if path.starts_with(e2e_tests::harness::dist_dir()) {
                // Our filters export every callback the guest layer says it does.
                let exported = wasm_test_harness::kong_rules::exports(&bytes).unwrap();
                for name in redis_filter_core::proxy::EXPORTED_CALLBACKS {
                    assert!(
                        exported.iter().any(|e| e == name),
                        "{}: {name}",
                        path.display()
                    );
                }
            }
            seen += 1;
        }
    }
    assert!(seen >= 7, "{seen} modules");
}

fn wasmparser_validate(bytes: &[u8]) -> Result<(), String> {
    wasm_test_harness::kong_rules::validate(bytes)
}

/// Kong's engine bug 9 in the kong profile: the last filter of a chain pausing on a call after
/// an earlier filter paused on one gets a 500 (the engine would not hold the request for it, and
/// crashes workers under load); the same chain ended with redis-chain-end serves, and so do a
/// single filter and a last filter after filters that did not pause (the engine holds those).
/// Envoy's profile has no such rule.
#[test]
fn the_kong_profile_refuses_a_chain_whose_last_filter_pauses_on_a_call() {
    let redis = RedisServer::start(&[]);
    let limit = format!(
        r#"{{"hour": 1000, "policy": "redis", "redis": {{"host": "127.0.0.1", "port": {}}}}}"#,
        redis.port
    );
    let route = |name: &str, filters: &[&str]| -> Route {
        let mut route = Route::at(&format!("/{name}")).name(name);
        for f in filters {
            route = match *f {
                "local" => route.filter("redis-rate-limiting", r#"{"hour": 1000}"#),
                "redis-rate-limiting" => route.filter("redis-rate-limiting", &limit),
                other => route.filter(other, ""),
            };
        }
        route
    };
    let yaml = KongYml::new()
        .route(route(
            "two",
            &["redis-rate-limiting", "redis-rate-limiting"],
        ))
        .route(route(
            "ended",
            &[
                "redis-rate-limiting",
                "redis-rate-limiting",
                "redis-chain-end",
            ],
        ))
        .route(route("alone", &["redis-rate-limiting"]))
        .route(route("quiet", &["local", "redis-rate-limiting"]))
        .to_string();
    let dist = e2e_tests::harness::dist_dir();
    for profile in [Profile::Kong, Profile::Envoy] {
        let gw = Setup::new(&yaml)
            .filters(dist.clone())
            .profile(profile)
            .start();
        let two = get(gw.addr, "/two", &[]);
        if profile == Profile::Kong {
            assert_eq!(two.status, 500, "{}", two.text());
            assert_eq!(two.json()["message"], "An unexpected error occurred");
        } else {
            assert_eq!(two.status, 200, "{}", two.text());
        }
        for path in ["/ended", "/alone", "/quiet"] {
            let r = get(gw.addr, path, &[]);
            assert_eq!(r.status, 200, "{profile:?} {path}: {}", r.text());
            assert!(r.header("x-ratelimit-remaining-hour").is_some());
        }
    }
}
