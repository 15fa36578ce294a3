//! Chains of our filters as Kong users chain them, in Kong's engine (nginx + ngx_wasm_module,
//! stock) under `wrk`: a session then redis-jwt (`anonymous`) then rate limiting by consumer;
//! redis-jwt with its credentials read from Redis on every request, then the blacklist; two
//! realtime limits. Each chain had workers die on signal 11 (engine bug 9, docs/kong-engine.md)
//! until `render-nginx` ended it with redis-chain-end; here each gets three 5-second runs at 32
//! connections with no crash and no non-2xx, then clients that give up while Redis is paused.
//! Skipped, with a line saying so, where the engine is not found.

use e2e_tests::harness::dist_dir;
use e2e_tests::http::get;
use e2e_tests::kong::{available, KongGateway};
use e2e_tests::RedisServer;
use redis_filter_core::jwt::testing::sign;
use std::process::Command;
use std::time::{Duration, Instant};

const ALICE: &str = r#"{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}"#;

/// Alice's token, valid for the test.
fn alice_token() -> String {
    sign(
        "HS256",
        r#"{"iss":"k-alice","exp":4102444800,"jti":"t-1"}"#,
        b"alice-secret",
    )
}

/// A kong.yml: one route per `(path, [(filter, config)])`, to the echo upstream.
fn yaml(routes: &[(&str, Vec<(&str, String)>)]) -> String {
    let mut out = String::from(
        "_format_version: \"3.0\"\nservices:\n- name: echo\n  url: http://{echo}\n  routes:\n",
    );
    for (i, (path, filters)) in routes.iter().enumerate() {
        out.push_str(&format!(
            "  - name: r{i}\n    paths: [{path}]\n    strip_path: false\n    filter_chains:\n    - filters:\n"
        ));
        for (name, config) in filters {
            out.push_str(&format!("      - name: {name}\n        config: {config}\n"));
        }
    }
    out
}

/// The chains, all on one Redis.
fn chains(redis: &RedisServer) -> String {
    let r = format!(r#"{{"host": "127.0.0.1", "port": {}}}"#, redis.port);
    let session = format!(
        r#"{{"storage": "redis", "redis": {r}, "cookie_name": "kong_session", "secret": "a-secret-shared-by-every-node"}}"#
    );
    let jwt_anonymous = format!(
        r#"{{"anonymous": "anonymous", "consumers": [{ALICE}, {{"id": "c-anon", "username": "anonymous"}}]}}"#
    );
    let by_consumer = format!(
        r#"{{"hour": 100000000, "limit_by": "consumer", "policy": "redis", "redis": {r}}}"#
    );
    let jwt_in_redis =
        format!(r#"{{"credentials_in_redis": true, "credential_cache_ttl": 0, "redis": {r}}}"#);
    let blacklist = format!(r#"{{"storage": "redis", "redis": {r}}}"#);
    let second = format!(r#"{{"second": 100000000, "policy": "redis", "redis": {r}}}"#);
    let hour = format!(r#"{{"hour": 100000000, "policy": "redis", "redis": {r}}}"#);
    yaml(&[
        (
            "/session",
            vec![
                ("redis-session", session),
                ("redis-jwt", jwt_anonymous),
                ("redis-rate-limiting", by_consumer),
            ],
        ),
        (
            "/revocable",
            vec![
                ("redis-jwt", jwt_in_redis),
                ("redis-jwt-blacklist", blacklist),
            ],
        ),
        (
            "/limits",
            vec![
                ("redis-rate-limiting", second),
                ("redis-rate-limiting", hour),
            ],
        ),
    ])
}

/// Puts alice's credential where redis-jwt reads it (`credentials_in_redis`).
fn put_alice_in_redis(redis: &RedisServer) {
    use wasm_test_harness::credentials::{self, Action, Redis};
    let mut admin = Redis::connect(&format!("127.0.0.1:{}", redis.port), None, None).unwrap();
    credentials::run(
        &mut admin,
        credentials::DEFAULT_PREFIX,
        "k-alice",
        Action::Put {
            consumer: serde_json::json!({"id": "c-alice", "username": "alice"}),
            secret: serde_json::json!({"secret": "alice-secret"}),
        },
    )
    .unwrap();
}

/// A session cookie for alice: a request with her token through the session chain (the session
/// learns the consumer in the response phase), then the cookie alone is alice once it is in
/// Redis.
fn session_cookie(gw: &KongGateway) -> String {
    let bearer = format!("Bearer {}", alice_token());
    let login = get(gw.addr, "/session", &[("authorization", &bearer)]);
    assert_eq!(login.status, 200, "{}\n{}", login.text(), gw.log());
    let cookie = login
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kong_session="))
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no session: {:?}\n{}", login.headers, gw.log()));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(gw.addr, "/session", &[("cookie", &cookie)]);
        if r.json()["headers"]["x-consumer-id"] == "c-alice" {
            return cookie;
        }
        assert!(Instant::now() < deadline, "not alice: {}", r.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three 5-second wrk runs at 32 connections on `path`: every request answered 2xx, no worker
/// crash.
fn three_runs(gw: &KongGateway, path: &str, headers: &[(&str, &str)]) {
    let url = format!("http://{}{path}", gw.addr);
    for run in 1..=3 {
        let r = e2e_tests::wrk::wrk(&url, 32, 5, headers);
        eprintln!(
            "Kong engine {path}, run {run}: {} requests, {:.0} req/s, {} socket errors, {} non-2xx",
            r.completed,
            e2e_tests::wrk::requests_per_second(&r),
            r.socket_errors,
            r.non_2xx
        );
        assert!(r.completed > 100, "{path}: {}\n{}", r.text, gw.log());
        assert_eq!(r.socket_errors, 0, "{path}: {}\n{}", r.text, gw.log());
        assert_eq!(
            r.non_2xx,
            0,
            "{path}: {}\n{}",
            r.text,
            e2e_tests::log_tail(&gw.log(), 40)
        );
        assert!(gw.crashes().is_empty(), "{path}: {:?}", gw.crashes());
    }
}

/// The chains served by the engine on their own Redis, alice's credential stored, her session
/// cookie and token at hand; None (said once) without the engine.
struct Chains {
    redis: RedisServer,
    gw: KongGateway,
    cookie: String,
    bearer: String,
}

impl Chains {
    fn start(test: &str) -> Option<Self> {
        if !available(test) {
            return None;
        }
        let redis = RedisServer::start(&[]);
        put_alice_in_redis(&redis);
        let gw = KongGateway::start(&chains(&redis), &dist_dir(), 2);
        let cookie = session_cookie(&gw);
        let bearer = format!("Bearer {}", alice_token());
        Some(Self {
            redis,
            gw,
            cookie,
            bearer,
        })
    }
}

#[test]
fn users_chains_under_load_crash_no_worker_and_answer_every_request() {
    let Some(c) = Chains::start("users_chains_under_load_crash_no_worker_and_answer_every_request")
    else {
        return;
    };
    three_runs(&c.gw, "/session", &[("Cookie", &c.cookie)]);
    three_runs(&c.gw, "/revocable", &[("Authorization", &c.bearer)]);
    three_runs(&c.gw, "/limits", &[]);
    // What each chain counted, it counted for the right consumer.
    let keys = String::from_utf8_lossy(&c.redis.cmd(&["KEYS", "ratelimit:*"])).into_owned();
    assert!(keys.contains(":c-alice:"), "{keys}");
}

/// Clients that give up (curl `-m 0.1`) while their chain waits on a paused Redis: the engine
/// meets the request's end with calls out. No worker dies, and every chain serves again once
/// Redis is back.
#[test]
fn clients_giving_up_while_a_chain_waits_on_redis_crash_no_worker() {
    let Some(c) = Chains::start("clients_giving_up_while_a_chain_waits_on_redis_crash_no_worker")
    else {
        return;
    };
    let (redis, gw, cookie, bearer) = (&c.redis, &c.gw, &c.cookie, &c.bearer);
    let routes: [(&str, (&str, &str)); 3] = [
        ("/session", ("Cookie", cookie.as_str())),
        ("/revocable", ("Authorization", bearer.as_str())),
        ("/limits", ("X-Nothing", "1")),
    ];
    for round in 0..3 {
        redis.request(&["CLIENT", "PAUSE", "700"]).unwrap();
        let curls: Vec<_> = routes
            .iter()
            .flat_map(|(path, (name, value))| {
                (0..8).map(move |_| {
                    Command::new("curl")
                        .args(["-s", "-o", "/dev/null", "-m", "0.1", "-H"])
                        .arg(format!("{name}: {value}"))
                        .arg(format!("http://{}{path}", gw.addr))
                        .spawn()
                        .expect("curl")
                })
            })
            .collect();
        for mut curl in curls {
            let _ = curl.wait();
        }
        // Once the pause ends, every chain serves again.
        let deadline = Instant::now() + Duration::from_secs(5);
        for (path, (name, value)) in &routes {
            loop {
                let r = get(gw.addr, path, &[(name, value)]);
                if r.status == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round} {path}: {} {}\n{}",
                    r.status,
                    r.text(),
                    e2e_tests::log_tail(&gw.log(), 40)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(gw.crashes().is_empty(), "round {round}: {:?}", gw.crashes());
    }
}
