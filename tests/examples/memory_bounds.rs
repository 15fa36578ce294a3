//! The memory bounds of issue 19: every filter fed 100,000 distinct identifiers, cache keys,
//! sessions or tokens, on the harness, in Envoy and in Kong's engine, with its guest's linear
//! memory (the filter's `<name>.memory_bytes` gauge, where the host shows metrics), the host's
//! shared data (the harness counts its entries and bytes) and the gateway's resident memory read
//! as the count goes up. Prints a Markdown table (`scripts/memory.sh` runs it). With
//! `MEMORY_DEBUG` set it also prints each case's kong.yml and error lines, and writes the
//! gateway's whole log to `target/memory-<host>-<case>.log`.
//!
//! `cargo run -p e2e-tests --example memory_bounds -- [--hosts harness,envoy,kong]
//! [--count 100000] [--cases rl-local,...]`, with `dist/` and the test filters built.

use e2e_tests::gateway::{Gateway, Host};
use e2e_tests::harness::dist_and_test_filters;
use e2e_tests::keep_alive::KeepAlive;
use e2e_tests::RedisServer;
use std::time::{Duration, Instant};

/// Client threads, each on its own kept-alive connection.
const THREADS: usize = 4;
/// Where the figures are read, as fractions of the count.
const CHECKPOINTS: [f64; 4] = [0.1, 0.25, 0.5, 1.0];

/// A request: path and headers.
type Request = (String, Vec<(String, String)>);

/// One filter fed one kind of distinct input.
struct Case {
    name: &'static str,
    /// The filter whose gauge is read (its crate name, as the gauge has it).
    gauge: &'static str,
    /// The metric counting what the bound cost (entries given up, responses not kept).
    lost: &'static [&'static str],
    what: &'static str,
    /// The filter chain (kong.yml `filters:` items), `{redis}` for the Redis block.
    filters: &'static str,
    /// The `i`th request: path and headers.
    request: fn(u64, &Inputs) -> Request,
    /// At most this many inputs (0: the count asked for), for a case whose inputs are slow.
    most: u64,
}

/// What requests are made of.
struct Inputs {
    exp: u64,
}

/// The public key of the RS256 tokens (`public_key::testing` signs RSA with one key).
fn rs256_pem() -> String {
    redis_jwt::public_key::testing::sign("RS256", r#"{"iss":"k-rs"}"#).1
}

fn rs256_token(i: u64, inputs: &Inputs) -> Request {
    let claims = format!(r#"{{"iss":"k-rs","exp":{},"jti":"token-{i}"}}"#, inputs.exp);
    let (jwt, _) = redis_jwt::public_key::testing::sign("RS256", &claims);
    (
        "/".into(),
        vec![("authorization".into(), format!("Bearer {jwt}"))],
    )
}

fn rl(i: u64, _: &Inputs) -> Request {
    ("/".into(), vec![("x-id".into(), format!("client-{i}"))])
}

fn token(i: u64, inputs: &Inputs) -> Request {
    let claims = format!(r#"{{"iss":"k-1","exp":{},"jti":"token-{i}"}}"#, inputs.exp);
    let jwt = redis_filter_core::jwt::testing::sign("HS256", &claims, b"secret-1");
    (
        "/".into(),
        vec![("authorization".into(), format!("Bearer {jwt}"))],
    )
}

const CASES: &[Case] = &[
    Case {
        name: "rl-local",
        gauge: "redis_rate_limiting",
        lost: &["redis_rate_limiting.evictions"],
        what: "rate-limiting, `local`, second + hour, by header: distinct identifiers",
        filters: r#"- name: redis-rate-limiting
        config: {"second": 1000000000, "hour": 1000000000, "policy": "local", "limit_by": "header", "header_name": "x-id"}"#,
        request: rl,
        most: 0,
    },
    Case {
        name: "rl-sync",
        gauge: "redis_rate_limiting",
        lost: &["redis_rate_limiting.evictions"],
        what: "rate-limiting, `redis` with `sync_rate: 1`, second + hour: distinct identifiers",
        filters: r#"- name: redis-rate-limiting
        config: {"second": 1000000000, "hour": 1000000000, "policy": "redis", "sync_rate": 1, "limit_by": "header", "header_name": "x-id", {redis}}"#,
        request: rl,
        most: 0,
    },
    Case {
        name: "rl-redis",
        gauge: "redis_rate_limiting",
        lost: &[],
        what: "rate-limiting, `redis` (each request to Redis), second + hour: distinct identifiers",
        filters: r#"- name: redis-rate-limiting
        config: {"second": 1000000000, "hour": 1000000000, "policy": "redis", "limit_by": "header", "header_name": "x-id", {redis}}"#,
        request: rl,
        most: 0,
    },
    Case {
        name: "cache-memory",
        gauge: "redis_proxy_cache",
        lost: &["redis_proxy_cache.evictions", "redis_proxy_cache.not_kept"],
        what: "proxy-cache, `memory`: distinct cache keys (paths)",
        filters: r#"- name: redis-proxy-cache
        config: {"strategy": "memory"}"#,
        request: |i, _| (format!("/item/{i}"), Vec::new()),
        most: 0,
    },
    Case {
        name: "cache-redis",
        gauge: "redis_proxy_cache",
        lost: &[],
        what: "proxy-cache, `redis`: distinct cache keys (paths)",
        filters: r#"- name: redis-proxy-cache
        config: {"strategy": "redis", {redis}}"#,
        request: |i, _| (format!("/item/{i}"), Vec::new()),
        most: 0,
    },
    Case {
        name: "session",
        gauge: "redis_session",
        lost: &[],
        what: "session, `redis`: a new session on every request",
        filters: r#"- name: consumer-stub
        config: {"keys": {"k": {"id": "c-1"}}}
      - name: redis-session
        config: {"storage": "redis", "secret": "s", {redis}}"#,
        request: |_, _| ("/".into(), vec![("apikey".into(), "k".into())]),
        most: 0,
    },
    Case {
        name: "jwt",
        gauge: "redis_jwt",
        lost: &[],
        what: "jwt: distinct tokens (one credential)",
        filters: r#"- name: redis-jwt
        config: {"consumers": [{"id": "c-1", "jwt_secrets": [{"key": "k-1", "secret": "secret-1"}]}]}"#,
        request: token,
        most: 0,
    },
    Case {
        name: "jwt-rs256",
        gauge: "redis_jwt",
        lost: &[],
        what: "jwt, RS256: distinct tokens (its cache of checked signatures holds 10,000)",
        filters: r#"- name: redis-jwt
        config: {"consumers": [{"id": "c-1", "jwt_secrets": [{"key": "k-rs", "algorithm": "RS256", "rsa_public_key": {rs256_pem}}]}]}"#,
        request: rs256_token,
        most: 30_000,
    },
    Case {
        name: "blacklist",
        gauge: "redis_jwt_blacklist",
        lost: &[],
        what: "jwt + jwt-blacklist, `redis`: distinct tokens, none revoked",
        filters: r#"- name: redis-jwt
        config: {"consumers": [{"id": "c-1", "jwt_secrets": [{"key": "k-1", "secret": "secret-1"}]}]}
      - name: redis-jwt-blacklist
        config: {"storage": "redis", {redis}}
      - name: redis-chain-end"#,
        request: token,
        most: 0,
    },
];

fn kong_yml(case: &Case, redis_port: u16) -> String {
    let redis = format!(r#""redis": {{"host": "127.0.0.1", "port": {redis_port}}}"#);
    format!(
        r#"
_format_version: "3.0"
services:
- name: echo
  url: http://{{echo}}
  routes:
  - name: r
    paths: [/]
    filter_chains:
    - filters:
      {}
"#,
        case.filters
            .replace("{redis}", &redis)
            .replace("{rs256_pem}", &serde_json::json!(rs256_pem()).to_string())
    )
}

/// Requests `from..to` of `case`, from `THREADS` connections; how many were not answered 2xx.
fn drive(gw: &Gateway, case: &Case, inputs: &Inputs, from: u64, to: u64) -> u64 {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                s.spawn(move || {
                    let mut conn = KeepAlive::connect(gw.addr()).expect("connect");
                    let mut failed = 0;
                    let mut i = from + t;
                    while i < to {
                        let (path, headers) = (case.request)(i, inputs);
                        let headers: Vec<(&str, &str)> = headers
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        match conn.get(&path, &headers) {
                            Ok(status) if (200..300).contains(&status) => {}
                            other => {
                                if failed == 0 {
                                    let again = e2e_tests::http::try_request(
                                        gw.addr(),
                                        "GET",
                                        &path,
                                        &headers,
                                        b"",
                                    );
                                    let body = again.map(|r| r.text()).unwrap_or_default();
                                    eprintln!("{}: request {i}: {other:?} {body}", case.name);
                                }
                                failed += 1;
                            }
                        }
                        i += THREADS as u64;
                    }
                    failed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    })
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn run(host: Host, case: &Case, asked: u64, filters: &std::path::Path) {
    let count = if case.most > 0 {
        asked.min(case.most)
    } else {
        asked
    };
    let what = if count < asked {
        format!(
            "{} ({count} of them, the columns at the same fractions)",
            case.what
        )
    } else {
        case.what.to_string()
    };
    let redis = RedisServer::start(&[]);
    let yaml = kong_yml(case, redis.port);
    if std::env::var_os("MEMORY_DEBUG").is_some() {
        eprintln!("{yaml}");
    }
    let gw = Gateway::start(host, &yaml, filters);
    let inputs = Inputs {
        exp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + 86_400)
            .unwrap_or(0),
    };
    let gauge = format!("{}.memory_bytes", case.gauge);
    // The first requests, past every worker's start.
    drive(&gw, case, &inputs, count, count + 16);
    let start_mem = gw.metric(&gauge);
    let start_rss = gw.resident_bytes();
    let mut done = 0;
    let mut failed = 0;
    let mut driving = Duration::ZERO;
    let mut cells = Vec::new();
    for fraction in CHECKPOINTS {
        let to = (count as f64 * fraction) as u64;
        let started = Instant::now();
        failed += drive(&gw, case, &inputs, done, to);
        driving += started.elapsed();
        done = to;
        // A sync or a tick may still be growing things: let them run.
        std::thread::sleep(Duration::from_millis(1200));
        cells.push(format!(
            "{} / {} / {} / {}",
            mib(gw.metric(&gauge)),
            gw.metric("harness.shared_data.entries")
                .map_or("-".into(), |n| n.to_string()),
            mib(gw.metric("harness.shared_data.bytes")),
            mib(gw.resident_bytes()),
        ));
    }
    let rate = done as f64 / driving.as_secs_f64();
    let lost: Vec<String> = case
        .lost
        .iter()
        .map(|m| gw.metric(m).map_or("-".into(), |n| n.to_string()))
        .collect();
    let lost = if lost.is_empty() {
        "-".into()
    } else {
        lost.join(" + ")
    };
    println!(
        "| {host:?} | {what} | {} / - / - / {} | {} | {failed} | {lost} | {rate:.0} |",
        mib(start_mem),
        mib(start_rss),
        cells.join(" | "),
    );
    eprintln!(
        "{host:?} {}: log tail:\n{}",
        case.name,
        e2e_tests::log_tail(&gw.log(), 5)
    );
    if std::env::var_os("MEMORY_DEBUG").is_some() {
        let log = gw.log();
        let _ = std::fs::write(format!("target/memory-{host:?}-{}.log", case.name), &log);
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("[error]")
                    || l.contains("[crit]")
                    || l.contains("[alert]")
                    || l.contains("[emerg]")
            })
            .collect();
        eprintln!(
            "{} error lines, first: {:#?}",
            errors.len(),
            &errors[..errors.len().min(8)]
        );
    }
    for crash in gw.crashes() {
        eprintln!("{host:?} {}: worker crashed: {crash}", case.name);
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let hosts: Vec<Host> = arg("--hosts")
        .unwrap_or_else(|| "harness,envoy,kong".into())
        .split(',')
        .filter_map(|h| match h {
            "harness" => Some(Host::Harness),
            "envoy" => Some(Host::Envoy),
            "kong" => e2e_tests::kong::available("memory bounds").then_some(Host::Kong),
            other => panic!("unknown host {other}"),
        })
        .collect();
    let count: u64 = arg("--count").map_or(100_000, |c| c.parse().expect("--count"));
    let wanted = arg("--cases");
    let filters = dist_and_test_filters();
    let marks: Vec<String> = CHECKPOINTS
        .iter()
        .map(|f| format!("after {}", (count as f64 * f) as u64))
        .collect();
    println!(
        "Each cell: the filter's guest memory (MiB) / shared data entries / shared data (MiB, keys \
         and values) / the gateway's resident memory (MiB: Envoy's process; Kong's engine's \
         master and workers, proportional set size); `-` where the host does not tell. Given \
         up: counters that gave up their place in the full table (rate limiting), entries that \
         gave way + responses not kept for the byte budget (proxy-cache `memory`).\n"
    );
    println!(
        "| host | filter and input | at start | {} | not 2xx | given up | requests/s |",
        marks.join(" | ")
    );
    println!("|---|---|---|{}---|---|---|", "---|".repeat(marks.len()));
    for host in hosts {
        for case in CASES {
            if wanted
                .as_deref()
                .is_some_and(|w| !w.split(',').any(|c| c == case.name))
            {
                continue;
            }
            run(host, case, count, &filters.0);
        }
    }
}
