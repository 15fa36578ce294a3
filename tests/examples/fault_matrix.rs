//! The fault matrix of issue 19: every filter against Redis failing in each way it can, on each
//! host, with real servers. For each filter and fault: what the client gets on the first
//! request during the fault and on the following ones (and how long each waits), how long
//! service takes to come back once the fault ends, and whether a filter instance was replaced
//! (a panic). Prints a Markdown table (`scripts/faults.sh` runs it).
//!
//! `cargo run -p e2e-tests --example fault_matrix -- [--hosts harness,envoy,kong] [--faults
//! killed,paused,...]`, with `dist/` and the test filters built. The faults: Redis killed,
//! paused, slow, behind a wrong password, full, turned into a replica, a Cluster master gone,
//! and the tunnel gone (Kong's bridge stopped; on the harness and in Envoy the tunnel is part of
//! the gateway's process, so that fault is Kong's only).

use e2e_tests::cluster::{ClusterOptions, RedisCluster};
use e2e_tests::gateway::{Gateway, Host};
use e2e_tests::harness::dist_and_test_filters;
use e2e_tests::http::{try_request, Response};
use e2e_tests::redis_server::{pipeline, Resp};
use e2e_tests::RedisServer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every filter's Redis timeout, ms.
const TIMEOUT_MS: u64 = 1000;
/// Requests during a fault: the first, then these many more.
const FOLLOWING: usize = 4;
/// How long service may take to come back before the cell says it did not.
const RECOVERY: Duration = Duration::from_secs(20);

/// One filter's route and what a normal answer looks like.
struct Probe {
    filter: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
    normal: fn(&Response) -> bool,
    /// The answer in a few words (status and what matters of it).
    seen: fn(&Response) -> String,
    /// The Redis key its request reads or writes.
    key: Key,
}

/// Where a probe's Redis key is: known, or found by pattern after a request.
enum Key {
    Exact(String),
    Pattern(&'static str),
}

fn consumer(r: &Response) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()?
        .pointer("/headers/x-consumer-id")?
        .as_str()
        .map(str::to_string)
}

fn message(r: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .map(|m| format!(" \"{m}\""))
        .unwrap_or_default()
}

/// The five routes, each filter's `redis` block holding `redis` (the node or the cluster).
fn kong_yml(redis: &str) -> String {
    let block = format!(r#""redis": {{{redis}, "timeout": {TIMEOUT_MS}}}"#);
    format!(
        r#"
_format_version: "3.0"
services:
- name: echo
  url: http://{{echo}}
  routes:
  - name: rate-limiting
    paths: [/rl]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {{"minute": 1000000, "policy": "redis", {block}}}
  - name: proxy-cache
    paths: [/cache]
    filter_chains:
    - filters:
      - name: redis-proxy-cache
        config: {{"strategy": "redis", {block}}}
  - name: session
    paths: [/session]
    filter_chains:
    - filters:
      - name: consumer-stub
        config: {{"keys": {{"k": {{"id": "c-1"}}}}}}
      - name: redis-session
        config: {{"storage": "redis", "secret": "s", {block}}}
      - name: redis-chain-end
  - name: jwt
    paths: [/jwt]
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {{"credentials_in_redis": true, "credential_cache_ttl": 1, "credential_negative_ttl": 1, {block}}}
  - name: jwt-blacklist
    paths: [/bl]
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {{"consumers": [{{"id": "c-2", "jwt_secrets": [{{"key": "k-bl", "secret": "bl"}}]}}]}}
      - name: redis-jwt-blacklist
        config: {{"storage": "redis", {block}}}
      - name: redis-chain-end
"#
    )
}

/// The probes of `gw`; redis-jwt's credential is written to `credential_node` (`host:port`, the
/// node that holds its key).
fn probes(gw: &Gateway, credential_node: &str) -> Vec<Probe> {
    use redis_filters::credentials::{self, Action, Redis};
    let mut admin = Redis::connect(credential_node, None, None).expect("redis");
    credentials::run(
        &mut admin,
        credentials::DEFAULT_PREFIX,
        "k-jwt",
        Action::Put {
            consumer: serde_json::json!({"id": "c-3"}),
            secret: serde_json::json!({"secret": "jwt"}),
        },
    )
    .expect("credential");
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 86_400)
        .unwrap_or(0);
    let sign = redis_filter_core::jwt::testing::sign;
    let bearer = |iss: &str, secret: &[u8]| {
        let claims = format!(r#"{{"iss":"{iss}","exp":{exp}}}"#);
        format!("Bearer {}", sign("HS256", &claims, secret))
    };
    let login = try_request(gw.addr(), "GET", "/session", &[("apikey", "k")], b"").expect("login");
    let cookie = login
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("session="))
        .and_then(|(_, v)| v.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", login.headers))
        .to_string();
    let header = |k: &str, v: String| vec![(k.to_string(), v)];
    let sid = cookie
        .trim_start_matches("session=")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let blacklisted = bearer("k-bl", b"bl");
    let revocation_id =
        redis_filter_core::hmac::sha256_hex(blacklisted.trim_start_matches("Bearer "));
    vec![
        Probe {
            filter: "rate-limiting (realtime, fault_tolerant)",
            path: "/rl",
            headers: Vec::new(),
            normal: |r| r.status == 200 && r.header("x-ratelimit-remaining-minute").is_some(),
            seen: |r| match r.header("x-ratelimit-remaining-minute") {
                Some(_) => format!("{}, counted", r.status),
                None => format!("{}, not counted{}", r.status, message(r)),
            },
            key: Key::Pattern("ratelimit:*"),
        },
        Probe {
            filter: "proxy-cache",
            path: "/cache",
            headers: Vec::new(),
            normal: |r| {
                r.status == 200 && matches!(r.header("x-cache-status"), Some("Hit" | "Miss"))
            },
            seen: |r| match r.header("x-cache-status") {
                Some(s) => format!("{} {s}", r.status),
                None => format!("{}{}", r.status, message(r)),
            },
            key: Key::Pattern("proxy-cache:*"),
        },
        Probe {
            filter: "session (a session made before)",
            path: "/session",
            headers: header("cookie", cookie),
            normal: |r| r.status == 200 && consumer(r).as_deref() == Some("c-1"),
            seen: |r| match consumer(r) {
                Some(_) => format!("{}, in session", r.status),
                None => format!("{}, no session{}", r.status, message(r)),
            },
            key: Key::Exact(format!("session:{sid}")),
        },
        Probe {
            filter: "jwt (credential in Redis, cache 1 s)",
            path: "/jwt",
            headers: header("authorization", bearer("k-jwt", b"jwt")),
            normal: |r| r.status == 200,
            seen: |r| format!("{}{}", r.status, message(r)),
            key: Key::Exact(format!("{}k-jwt", credentials::DEFAULT_PREFIX)),
        },
        Probe {
            filter: "jwt-blacklist",
            path: "/bl",
            headers: header("authorization", blacklisted),
            normal: |r| r.status == 200,
            seen: |r| format!("{}{}", r.status, message(r)),
            key: Key::Exact(format!("jwt_blacklist:{revocation_id}")),
        },
    ]
}

/// Commands pipelined on a fresh connection (after `AUTH` when `password` is set), their
/// replies; none when Redis cannot be reached.
fn redis_do(port: u16, password: Option<&str>, commands: &[&[&str]]) -> Vec<Resp> {
    let commands: Vec<Vec<&str>> = commands.iter().map(|c| c.to_vec()).collect();
    pipeline(port, password, &commands).unwrap_or_default()
}

/// The Redis servers a fault acts on: the one every filter uses, and a spare that becomes its
/// master for the READONLY case.
struct Servers {
    redis: RedisServer,
    spare: RedisServer,
}

/// A fault in force; `heal` ends it.
enum Active {
    None,
    /// Until when the pause lasts (`CLIENT UNPAUSE` would itself wait for the pause to end).
    Paused(Instant),
    Slow(Arc<AtomicBool>, std::thread::JoinHandle<()>),
}

/// How long `CLIENT PAUSE` lasts: longer than the requests made during it.
const PAUSE: Duration = Duration::from_secs(7);

const FAULTS: &[(&str, &str)] = &[
    ("killed", "Redis killed (SIGKILL), then started again"),
    ("paused", "`CLIENT PAUSE ALL` for 7 s"),
    ("slow", "Redis slow: `DEBUG SLEEP 0.3` back to back"),
    (
        "password",
        "wrong password: `requirepass` set, clients dropped",
    ),
    ("maxmemory", "`maxmemory` reached with `noeviction`"),
    ("readonly", "the node turned into a replica (`READONLY`)"),
    (
        "tunnel",
        "the tunnel gone: Kong's bridge stopped (SIGTERM), then started again",
    ),
];

/// Why `fault` cannot happen on `host`, if it cannot: its cells are one row saying so.
fn not_applicable(fault: &str, host: Host) -> Option<&'static str> {
    match (fault, host) {
        ("tunnel", Host::Harness | Host::Envoy) => {
            Some("not applicable: the tunnel is part of the gateway process")
        }
        _ => None,
    }
}

fn apply(fault: &str, s: &Servers, gw: &Gateway) -> Active {
    let port = s.redis.port;
    match fault {
        "killed" => s.redis.kill(),
        "paused" => {
            let ms = PAUSE.as_millis().to_string();
            redis_do(port, None, &[&["CLIENT", "PAUSE", &ms, "ALL"]]);
            return Active::Paused(Instant::now() + PAUSE);
        }
        "slow" => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    redis_do(port, None, &[&["DEBUG", "SLEEP", "0.3"]]);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            return Active::Slow(stop, thread);
        }
        "password" => {
            redis_do(
                port,
                None,
                &[
                    &["CONFIG", "SET", "requirepass", "not-the-filters"],
                    &["CLIENT", "KILL", "TYPE", "normal"],
                ],
            );
        }
        "maxmemory" => {
            redis_do(
                port,
                None,
                &[
                    &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
                    &["CONFIG", "SET", "maxmemory", "1"],
                ],
            );
        }
        "readonly" => {
            let spare = s.spare.port.to_string();
            let redis = port.to_string();
            redis_do(s.spare.port, None, &[&["REPLICAOF", "127.0.0.1", &redis]]);
            wait_link(s.spare.port);
            redis_do(s.spare.port, None, &[&["REPLICAOF", "NO", "ONE"]]);
            redis_do(port, None, &[&["REPLICAOF", "127.0.0.1", &spare]]);
            wait_link(port);
        }
        "tunnel" => {
            assert!(gw.stop_tunnel(), "{:?} has no tunnel to stop", gw.host());
        }
        other => panic!("no fault {other}"),
    }
    Active::None
}

fn wait_link(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let info = redis_do(port, None, &[&["INFO", "replication"]]);
        if info.iter().any(|r| {
            r.text()
                .is_some_and(|t| t.contains("master_link_status:up"))
        }) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn heal(fault: &str, s: &Servers, gw: &Gateway, active: Active) {
    let port = s.redis.port;
    match fault {
        "killed" => s.redis.restart(),
        "paused" => {
            if let Active::Paused(until) = active {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
            }
        }
        "slow" => {
            if let Active::Slow(stop, thread) = active {
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
            }
        }
        "password" => {
            redis_do(
                port,
                Some("not-the-filters"),
                &[&["CONFIG", "SET", "requirepass", ""]],
            );
        }
        "maxmemory" => {
            redis_do(port, None, &[&["CONFIG", "SET", "maxmemory", "0"]]);
        }
        "readonly" => {
            redis_do(port, None, &[&["REPLICAOF", "NO", "ONE"]]);
        }
        "tunnel" => {
            gw.start_tunnel();
        }
        _ => {}
    }
}

/// One request, its answer in words, and how long it took.
fn ask(gw: &Gateway, probe: &Probe) -> (String, Duration, bool) {
    let headers: Vec<(&str, &str)> = probe
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let start = Instant::now();
    let r = try_request(gw.addr(), "GET", probe.path, &headers, b"");
    let took = start.elapsed();
    match r {
        // One line, for the table.
        Ok(r) => (
            (probe.seen)(&r).replace(['\r', '\n'], " "),
            took,
            (probe.normal)(&r),
        ),
        Err(e) => (format!("no answer ({e})"), took, false),
    }
}

fn eventually_normal(gw: &Gateway, probe: &Probe) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < RECOVERY {
        if ask(gw, probe).2 {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Filter instances replaced so far (a trap, that is a panic): the harness counts them; Envoy
/// creates a new VM; Kong's engine logs the worker's crash.
fn replaced(gw: &Gateway) -> u64 {
    match gw {
        Gateway::Harness(g) => g.metrics()["harness.recycles"].as_u64().unwrap_or(0),
        Gateway::Envoy(g) => g.stat("wasm.envoy.wasm.runtime.v8.created").unwrap_or(0),
        Gateway::Kong(g) => g.crashes().len() as u64,
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// One cell: the fault applied by `apply`, requests, the fault ended by `heal`, service back.
fn cell(
    host: Host,
    label: &str,
    gw: &Gateway,
    probe: &Probe,
    apply: impl FnOnce() -> Active,
    heal: impl FnOnce(Active),
) {
    if eventually_normal(gw, probe).is_none() {
        println!(
            "| {host:?} | {label} | {} | not normal before the fault | | | |",
            probe.filter
        );
        return;
    }
    let before = replaced(gw);
    let active = apply();
    let (first, first_took, _) = ask(gw, probe);
    let mut answers = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..FOLLOWING {
        let (seen, took, _) = ask(gw, probe);
        slowest = slowest.max(took);
        if !answers.contains(&seen) {
            answers.push(seen);
        }
    }
    heal(active);
    let back = eventually_normal(gw, probe).map_or(format!("not within {RECOVERY:?}"), ms);
    let after = replaced(gw);
    if after > before {
        eprintln!(
            "{host:?}, {label}, {}: an instance was replaced: {:?}\n{}",
            probe.filter,
            gw.crashes(),
            gw.log()
        );
    }
    println!(
        "| {host:?} | {label} | {} | {first} ({}) | {} ({}) | {back} | {} |",
        probe.filter,
        ms(first_took),
        answers.join("; "),
        ms(slowest),
        if after > before { "yes" } else { "no" }
    );
}

/// The slot of `probe`'s key in `cluster`, and the master holding it.
fn owner(cluster: &RedisCluster, probe: &Probe) -> Option<(u16, u16)> {
    let key = match &probe.key {
        Key::Exact(k) => k.clone(),
        Key::Pattern(p) => cluster
            .masters()
            .into_iter()
            .find_map(|port| cluster.cmd_on(port, &["KEYS", p]).items().first()?.text())?,
    };
    let slot = cluster.key_slot(&key);
    Some((slot, cluster.master_for_slot(slot)))
}

/// A Cluster of three masters, each with a replica: the master holding the probe's key killed;
/// the fault ends when its replica has taken over (after the node timeout), and the old master
/// is started again (it rejoins as a replica).
fn cluster_cells(host: Host, dir: &std::path::Path) {
    let cluster = RedisCluster::start_with(ClusterOptions {
        masters: 3,
        replicas_per_master: 1,
        ..ClusterOptions::default()
    });
    let nodes = format!(
        r#""cluster_nodes": [{{"ip": "127.0.0.1", "port": {}}}]"#,
        cluster.seed()
    );
    let gw = Gateway::start(host, &kong_yml(&nodes), dir);
    let credential = format!("{}k-jwt", redis_filters::credentials::DEFAULT_PREFIX);
    let holder = cluster.master_for_slot(cluster.key_slot(&credential));
    let label = "a Cluster master gone, until its replica is promoted (1 s node timeout)";
    for probe in &probes(&gw, &format!("127.0.0.1:{holder}")) {
        let _ = eventually_normal(&gw, probe);
        let Some((slot, port)) = owner(&cluster, probe) else {
            println!(
                "| {host:?} | {label} | {} | its key not found | | | |",
                probe.filter
            );
            continue;
        };
        cell(
            host,
            label,
            &gw,
            probe,
            || {
                cluster.kill_node(port);
                Active::None
            },
            |_| {
                let deadline = Instant::now() + Duration::from_secs(30);
                while cluster.master_for_slot(slot) == port && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                cluster.restart_node(port);
                cluster.wait_ready(Duration::from_secs(30));
            },
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let list = |flag: &str, default: &str| -> Vec<String> {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map_or(default, String::as_str)
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let hosts = list("--hosts", "harness,envoy");
    let faults = list(
        "--faults",
        "killed,paused,slow,password,maxmemory,readonly,tunnel,cluster",
    );
    let dir = dist_and_test_filters();
    println!("| host | fault | filter | first request | following {FOLLOWING} (slowest) | service back after the fault | instance replaced |");
    println!("|---|---|---|---|---|---|---|");
    for host in &hosts {
        let host = match host.as_str() {
            "harness" => Host::Harness,
            "envoy" => Host::Envoy,
            "kong" => Host::Kong,
            other => panic!("no host {other}"),
        };
        let servers = Servers {
            redis: RedisServer::start(&[
                "appendonly yes",
                "appendfsync always",
                "enable-debug-command yes",
            ]),
            spare: RedisServer::start(&[]),
        };
        let node = format!(r#""port": {}"#, servers.redis.port);
        let gw = Gateway::start(host, &kong_yml(&node), &dir.0);
        let probes = probes(&gw, &servers.redis.addr());
        for fault in faults.iter().filter(|f| *f != "cluster") {
            let label = FAULTS
                .iter()
                .find(|(name, _)| name == fault)
                .map_or(fault.as_str(), |(_, l)| l);
            if let Some(why) = not_applicable(fault, host) {
                println!("| {host:?} | {label} | every filter | {why} | | | |");
                continue;
            }
            for probe in &probes {
                cell(
                    host,
                    label,
                    &gw,
                    probe,
                    || apply(fault, &servers, &gw),
                    |active| heal(fault, &servers, &gw, active),
                );
            }
        }
        drop(gw);
        if faults.iter().any(|f| f == "cluster") {
            cluster_cells(host, &dir.0);
        }
    }
}
