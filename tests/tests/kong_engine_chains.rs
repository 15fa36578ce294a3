//! Chains of our filters as Kong users chain them, in Kong's engine (nginx + ngx_wasm_module,
//! stock) under `wrk`: a session then redis-jwt (`anonymous`) then rate limiting by consumer;
//! redis-jwt with its credentials read from Redis on every request, then the blacklist; two
//! realtime limits. Each chain had workers die on signal 11 (engine bug 9, docs/kong-engine.md)
//! until `render-nginx` ended it with redis-chain-end; here each gets three 5-second runs at 32
//! connections with no crash and no non-2xx, then clients that give up while Redis is paused.
//! Each chain runs twice: as separate filters and as one `redis-chain`.
//! Skipped, with a line saying so, where the engine is not found.

use e2e_tests::alice;
use e2e_tests::harness::dist_dir;
use e2e_tests::http::get;
use e2e_tests::kong::{available, KongGateway};
use e2e_tests::{eventually_ok, RedisServer};
use std::process::Command;
use std::time::Duration;

/// The chains' paths: each as separate filters and as one `redis-chain` (`alice::both_forms`).
const PATHS: [&str; 6] = [
    "/session",
    "/chain/session",
    "/revocable",
    "/chain/revocable",
    "/limits",
    "/chain/limits",
];

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
        alice::put_in_redis(&redis);
        let gw = KongGateway::start(&alice::both_forms(&redis, 100_000_000), &dist_dir(), 2);
        let cookie = alice::session_cookie(gw.addr, "/session");
        let bearer = format!("Bearer {}", alice::token("t-1"));
        Some(Self {
            redis,
            gw,
            cookie,
            bearer,
        })
    }
}

impl Chains {
    /// What a request on `path` carries: the session cookie, alice's token, or nothing of note.
    fn credential(&self, path: &str) -> (&'static str, &str) {
        if path.ends_with("/session") {
            ("Cookie", &self.cookie)
        } else if path.ends_with("/revocable") {
            ("Authorization", &self.bearer)
        } else {
            ("X-Nothing", "1")
        }
    }
}

#[test]
fn users_chains_under_load_crash_no_worker_and_answer_every_request() {
    let Some(c) = Chains::start("users_chains_under_load_crash_no_worker_and_answer_every_request")
    else {
        return;
    };
    for path in PATHS {
        three_runs(&c.gw, path, &[c.credential(path)]);
    }
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
    let (redis, gw) = (&c.redis, &c.gw);
    let routes: Vec<(&str, (&str, &str))> = PATHS.iter().map(|p| (*p, c.credential(p))).collect();
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
        for (path, (name, value)) in &routes {
            eventually_ok(
                &format!("round {round}: {path} serving"),
                Duration::from_secs(5),
                || {
                    let r = get(gw.addr, path, &[(name, value)]);
                    if r.status == 200 {
                        return Ok(());
                    }
                    let log = e2e_tests::log_tail(&gw.log(), 40);
                    Err(format!("{} {}\n{log}", r.status, r.text()))
                },
            );
        }
        assert!(gw.crashes().is_empty(), "round {round}: {:?}", gw.crashes());
    }
}
