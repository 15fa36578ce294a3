//! redis-rate-limiting in Kong's own engine (nginx + Kong's ngx_wasm_module, stock and
//! unpatched) reaching Redis through the project's RESP bridge: each failure the filter had
//! there is a scenario here. Skipped, with a line saying so, where the engine is not found.

use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, get_from};
use e2e_tests::kong::{available, KongGateway};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::{eventually, RedisServer};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const ROUTE_ID: &str = "5a1a1a1a-0000-4000-8000-00000000000a";

/// A kong.yml with one route per `(path, config)`, all to the echo upstream.
fn yaml(routes: &[(&str, String)]) -> String {
    let mut yml = KongYml::new();
    for (path, config) in routes {
        yml = yml.route(Route::at(path).filter("redis-rate-limiting", config));
    }
    yml.to_string()
}

fn redis_block(redis: &RedisServer, extra: &str) -> String {
    format!(r#"{{"host": "127.0.0.1", "port": {}{extra}}}"#, redis.port)
}

fn counter(redis: &RedisServer, ip: &str, period: &str) -> u64 {
    let keys =
        String::from_utf8_lossy(&redis.cmd(&["KEYS", &format!("ratelimit:*:{ip}:*:{period}")]))
            .into_owned();
    let key = keys
        .lines()
        .find(|l| l.starts_with("ratelimit:"))
        .unwrap_or_else(|| panic!("no {period} key for {ip}: {keys}"))
        .to_string();
    String::from_utf8_lossy(&redis.cmd(&["GET", &key]))
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_policy_under_load_no_worker_crashes_and_every_request_is_answered() {
    if !available("load") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let r = redis_block(&redis, "");
    let gw = KongGateway::start(
        &yaml(&[
            ("/local", r#"{"hour": 100000000, "policy": "local"}"#.into()),
            (
                "/realtime",
                format!(r#"{{"hour": 100000000, "policy": "redis", "redis": {r}}}"#),
            ),
            (
                "/sync",
                format!(
                    r#"{{"day": 100000000, "policy": "redis", "sync_rate": 0.1, "redis": {r}}}"#
                ),
            ),
        ]),
        &dist_dir(),
        2,
    );
    for path in ["/local", "/realtime", "/sync"] {
        let url = format!("http://{}{path}", gw.addr);
        let run = e2e_tests::wrk::wrk(&url, 32, 3, &[]);
        let (done, errors, non_2xx) = (run.completed, run.socket_errors, run.non_2xx);
        eprintln!("Kong engine {path}: {done} requests, {errors} socket errors, {non_2xx} non-2xx");
        assert!(done > 100, "{path}: {done} requests\n{}", gw.log());
        assert_eq!(errors, 0, "{path}: connections dropped\n{}", gw.log());
        assert_eq!(non_2xx, 0, "{path}\n{}", gw.log());
        assert!(gw.crashes().is_empty(), "{path}: {:?}", gw.crashes());
    }
    // Everything sync_rate counted reaches Redis (flushed from on_tick, never from a request).
    eventually(
        "sync_rate's counts flushed to Redis",
        Duration::from_secs(5),
        || {
            let keys = redis.cmd(&["KEYS", "ratelimit:*:127.0.0.1:*:day"]);
            String::from_utf8_lossy(&keys).contains("ratelimit:")
                && counter(&redis, "127.0.0.1", "day") > 100
        },
    );
    let realtime = counter(&redis, "127.0.0.1", "hour");
    assert!(realtime > 100, "realtime counted {realtime}");
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
}

#[test]
fn each_client_address_has_its_own_counter() {
    if !available("limit_by ip") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let config = format!(
        r#"{{"minute": 3, "limit_by": "ip", "policy": "redis", "redis": {}}}"#,
        redis_block(&redis, "")
    );
    let gw = KongGateway::start(&yaml(&[("/", config)]), &dist_dir(), 2);
    let from = |ip: &str| -> u16 {
        let ip: IpAddr = ip.parse().unwrap();
        get_from(ip, gw.addr, "/").unwrap().status
    };
    let two: Vec<u16> = (0..4).map(|_| from("127.0.0.2")).collect();
    assert_eq!(two, vec![200, 200, 200, 429], "{}", gw.log());
    assert_eq!(from("127.0.0.3"), 200, "another client has its own counter");
    assert_eq!(counter(&redis, "127.0.0.2", "minute"), 4);
    assert_eq!(counter(&redis, "127.0.0.3", "minute"), 1);
}

#[test]
fn concurrent_requests_are_each_answered_within_the_timeout_and_counted_exactly() {
    if !available("concurrency") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let config = format!(
        r#"{{"minute": 5, "policy": "redis", "redis": {}}}"#,
        redis_block(&redis, r#", "timeout": 1000"#)
    );
    let gw = KongGateway::start(&yaml(&[("/", config)]), &dist_dir(), 2);
    let addr = gw.addr;
    let started = Instant::now();
    let answers: Vec<(u16, Duration)> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = e2e_tests::http::try_request(addr, "GET", "/", &[], b"");
                (r.map(|r| r.status).unwrap_or(0), t.elapsed())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let limited = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!((ok, limited), (5, 11), "{answers:?}\n{}", gw.log());
    let slowest = answers.iter().map(|(_, d)| *d).max().unwrap();
    assert!(slowest < Duration::from_millis(2000), "slowest {slowest:?}");
    eprintln!("16 concurrent requests answered in {:?}", started.elapsed());
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
}

#[test]
fn redis_paused_or_gone_strict_answers_500_in_time_tolerant_passes_then_recovers() {
    if !available("redis failures") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let r = redis_block(&redis, r#", "timeout": 300"#);
    let gw = KongGateway::start(
        &yaml(&[
            (
                "/strict",
                format!(
                    r#"{{"hour": 1000, "policy": "redis", "fault_tolerant": false, "redis": {r}}}"#
                ),
            ),
            (
                "/tolerant",
                format!(r#"{{"hour": 1000, "policy": "redis", "redis": {r}}}"#),
            ),
        ]),
        &dist_dir(),
        2,
    );
    assert_eq!(get(gw.addr, "/strict", &[]).status, 200, "{}", gw.log());

    redis.request(&["CLIENT", "PAUSE", "2000", "ALL"]).unwrap();
    let t = Instant::now();
    let r = get(gw.addr, "/strict", &[]);
    let took = t.elapsed();
    assert_eq!(r.status, 500, "{}\n{}", r.text(), gw.log());
    assert_eq!(r.json()["message"], "An unexpected error occurred");
    assert!(
        took < Duration::from_millis(1000),
        "answered after {took:?}"
    );
    let r = get(gw.addr, "/tolerant", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-remaining-hour").is_none());
    // A command from here waits out the pause, so its answer says the pause is over.
    eventually("Redis past its pause", Duration::from_secs(5), || {
        redis.request(&["PING"]).is_ok()
    });

    redis.kill();
    for _ in 0..3 {
        assert_eq!(get(gw.addr, "/strict", &[]).status, 500, "{}", gw.log());
        assert_eq!(get(gw.addr, "/tolerant", &[]).status, 200);
    }
    redis.restart();
    // The breaker lets a probe through after its back-off.
    eventually(
        "counting again after Redis came back",
        Duration::from_secs(5),
        || {
            let r = get(gw.addr, "/strict", &[]);
            r.status == 200 && r.header("x-ratelimit-remaining-hour").is_some()
        },
    );
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
}

#[test]
fn a_bad_config_answers_500_on_its_route_and_every_other_route_serves() {
    if !available("bad config") {
        return;
    }
    // Bad in every way the parser knows: each must keep the worker up.
    let bad = [
        r#"{"minute": 5, "policy": "local", "limit_by": "nobody"}"#,
        r#"{"minutes": 5}"#,
        r#"{"minute": "five"}"#,
        r#"{"minute": -1}"#,
        r#"{"minute": 5, "limit_by": "header"}"#,
        r#"{"minute": 5, "policy": "redis", "redis": {"port": 70000}}"#,
        r#"{"minute": 5, "policy": "cluster"}"#,
        r#"{"hour": 1, "minute": 5}"#,
        "not json",
    ];
    let mut routes: Vec<(String, String)> = bad
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("/bad{i}"), c.to_string()))
        .collect();
    routes.push(("/good".into(), r#"{"minute": 5, "policy": "local"}"#.into()));
    let routes: Vec<(&str, String)> = routes
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let gw = KongGateway::start(&yaml(&routes), &dist_dir(), 2);
    for (i, config) in bad.iter().enumerate() {
        let r = get(gw.addr, &format!("/bad{i}"), &[]);
        assert_eq!(r.status, 500, "{config}: {}", gw.log());
        assert_eq!(r.json()["message"], "An unexpected error occurred");
    }
    let r = get(gw.addr, "/good", &[]);
    assert_eq!(r.status, 200, "{}", gw.log());
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("4"));
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
    let log = gw.log();
    for field in ["limit_by", "minutes", "redis.port", "policy", "header_name"] {
        assert!(
            log.contains(field),
            "the refused field {field} is named in the log"
        );
    }
}

#[test]
fn a_request_body_waits_with_its_request_and_two_filters_of_one_chain_each_count() {
    if !available("bodies and chains") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let r = redis_block(&redis, "");
    // One route, a chain of two: a per-minute limit in Redis, then a per-hour local one.
    let minute = format!(r#"{{"minute": 3, "policy": "redis", "redis": {r}}}"#);
    let route = Route::at("/").name("chained");
    let route = route
        .filter("redis-rate-limiting", &minute)
        .filter("redis-rate-limiting", r#"{"hour": 100, "policy": "local"}"#);
    let yaml = KongYml::new().route(route).to_string();
    let gw = KongGateway::start(&yaml, &dist_dir(), 2);
    let body = vec![b'x'; 100_000];
    for remaining in ["2", "1", "0"] {
        let r = e2e_tests::http::request(gw.addr, "POST", "/", &[], &body);
        assert_eq!(r.status, 200, "{}", gw.log());
        assert_eq!(r.header("x-ratelimit-remaining-minute"), Some(remaining));
        assert!(
            r.header("x-ratelimit-remaining-hour").is_some(),
            "{:?}",
            r.headers
        );
        let echoed = r.json()["body"].as_str().map_or(0, str::len);
        assert_eq!(echoed, body.len(), "the body reached the upstream whole");
    }
    let r = e2e_tests::http::request(gw.addr, "POST", "/", &[], &body);
    assert_eq!(r.status, 429);
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
}

#[test]
fn kong_properties_absent_the_keys_use_the_configured_scope() {
    if !available("scope") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let config = format!(
        r#"{{"minute": 5, "policy": "redis", "limit_by": "ip", "route_id": "{ROUTE_ID}", "redis": {}}}"#,
        redis_block(&redis, "")
    );
    let gw = KongGateway::start(&yaml(&[("/", config)]), &dist_dir(), 1);
    assert_eq!(get(gw.addr, "/", &[]).status, 200, "{}", gw.log());
    let keys = String::from_utf8_lossy(&redis.cmd(&["KEYS", "ratelimit:*"])).into_owned();
    assert!(
        keys.contains(&format!(
            "ratelimit:{ROUTE_ID}:00000000-0000-0000-0000-000000000000:127.0.0.1:"
        )),
        "{keys}"
    );
}

/// Engine bug 10 (docs/kong-engine.md): redis-jwt (an inline credential, never waiting) then
/// redis-rate-limiting answering 429 after its Redis call, under load. The 429 once read
/// `request.id` from the call's answer, which the engine looks up through the chain's first
/// filter (freed memory once that filter's instance served a tick or another request): workers
/// died on signal 11, 4 to 6 times per run.
#[test]
fn a_chain_whose_second_filter_rejects_after_its_redis_call_crashes_no_worker() {
    if !available("a_chain_whose_second_filter_rejects_after_its_redis_call_crashes_no_worker") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let jwt = r#"{"consumers": [{"id": "c-1", "jwt_secrets": [{"key": "k", "secret": "s"}]}]}"#;
    let limit = format!(
        r#"{{"second": 2, "policy": "redis", "redis": {}}}"#,
        redis_block(&redis, "")
    );
    let route = Route::at("/chain").name("chain");
    let route = route.filter("redis-jwt", jwt);
    let kong_yml = KongYml::new()
        .route(route.filter("redis-rate-limiting", &limit))
        .to_string();
    let gw = KongGateway::start(&kong_yml, &dist_dir(), 2);
    let claims = r#"{"iss":"k","exp":4102444800}"#;
    let token = redis_filter_core::jwt::testing::sign("HS256", claims, b"s");
    let bearer = format!("Bearer {token}");
    let url = format!("http://{}/chain", gw.addr);
    let text = e2e_tests::wrk::wrk(&url, 32, 5, &[("Authorization", &bearer)]).text;
    assert!(
        text.contains("Non-2xx"),
        "nearly every request is rejected: {text}"
    );
    assert!(gw.crashes().is_empty(), "{:?}\n{text}", gw.crashes());
}

/// `sync_rate` with many identifiers: a flush of hundreds of keys, one part per cluster slot,
/// went out as one call per part, and in Kong's engine each call is a connection to the bridge:
/// its backlog overflowed (`connect() ... (11: Resource temporarily unavailable)`), the worker
/// ran out of connections and client requests got nginx's own 500 (16,175 of 20,000 with 20,000
/// identifiers). A flush is now one call per Redis node.
#[test]
fn sync_rate_with_thousands_of_identifiers_flushes_them_all() {
    if !available("sync_rate_with_thousands_of_identifiers_flushes_them_all") {
        return;
    }
    const CLIENTS: usize = 3000;
    let redis = RedisServer::start(&[]);
    let config = format!(
        r#"{{"hour": 1000, "policy": "redis", "sync_rate": 1, "limit_by": "header", "header_name": "x-id", "redis": {}}}"#,
        redis_block(&redis, "")
    );
    let gw = KongGateway::start(&yaml(&[("/", config)]), &dist_dir(), 1);
    let mut conn = e2e_tests::keep_alive::KeepAlive::connect(gw.addr).expect("connect");
    let mut failed = Vec::new();
    for i in 0..CLIENTS {
        let id = format!("client-{i}");
        match conn.get("/", &[("x-id", &id)]) {
            Ok(200) => {}
            other => failed.push((i, other)),
        }
    }
    assert!(
        failed.is_empty(),
        "{:?}\n{}",
        &failed[..failed.len().min(5)],
        gw.log()
    );
    // Every identifier reaches Redis within a few flushes (at most 1,000 keys each).
    let synced = || {
        let reply = redis.cmd(&["EVAL", "return #redis.call('KEYS', 'ratelimit:*')", "0"]);
        String::from_utf8_lossy(&reply)
            .trim_start_matches(':')
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    };
    eventually(
        &format!("{CLIENTS} identifiers in Redis"),
        Duration::from_secs(10),
        || synced() >= CLIENTS,
    );
    assert_eq!(synced(), CLIENTS, "{}", gw.log());
    let log = gw.log();
    assert!(
        !log.contains("dispatch failed") && !log.contains("worker_connections"),
        "{log}"
    );
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
}
