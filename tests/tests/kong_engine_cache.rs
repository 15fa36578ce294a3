//! redis-proxy-cache's Hits in Kong's own engine (nginx + Kong's ngx_wasm_module, stock and
//! unpatched): the engine appends a newline to a local response's body and counts it in
//! `Content-Length` (engine bug 6); a Hit takes both back in its response phases, so bodies of
//! every kind come out byte for byte, one request at a time and under `wrk`, with no worker
//! crash. Skipped, with a line saying so, where the engine is not found.

use e2e_tests::bodies::{self, Body};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, Response};
use e2e_tests::kong::{available, KongGateway};
use e2e_tests::wrk::wrk;
use e2e_tests::RedisServer;
use std::net::SocketAddr;

const PREFIXES: [&str; 2] = ["/exact", "/chained"];

fn cache_status(r: &Response) -> Option<&str> {
    r.header("x-cache-status")
}

/// What the client gets from a Hit is what the upstream sent: bytes, length, type, encoding.
fn assert_exact(r: &Response, body: &Body, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(r.body, body.bytes, "{what}: byte for byte");
    let length = body.bytes.len().to_string();
    assert_eq!(
        r.header("content-length"),
        Some(length.as_str()),
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(r.header("content-type"), Some(body.content_type), "{what}");
    assert_eq!(r.header("content-encoding"), body.encoding, "{what}");
}

/// Every body kind under both routes, entries tagged `tag`: a Miss, then (at once, waiting for
/// the Miss's write) a Hit, both exact.
fn miss_then_hit(addr: SocketAddr, tag: &str) {
    for prefix in PREFIXES {
        for body in bodies::all() {
            let path = body.path(prefix, tag);
            let what = format!("{prefix} {} ({tag})", body.name);
            let miss = get(addr, &path, &[]);
            assert_eq!(
                cache_status(&miss),
                Some("Miss"),
                "{what}: {:?}",
                miss.headers
            );
            assert_exact(&miss, &body, &what);
            let hit = get(addr, &path, &[]);
            assert_eq!(cache_status(&hit), Some("Hit"), "{what}: {:?}", hit.headers);
            assert_exact(&hit, &body, &what);
        }
    }
}

#[test]
fn hits_of_every_body_kind_are_byte_for_byte_under_load_and_no_worker_crashes() {
    let test = "hits_of_every_body_kind_are_byte_for_byte_under_load_and_no_worker_crashes";
    if !available(test) {
        return;
    }
    let redis = RedisServer::start(&[]);
    let gw = KongGateway::start(&bodies::kong_yml(redis.port), &dist_dir(), 2);
    miss_then_hit(gw.addr, "before");
    // Keep-alive load on Hits, each run on another kind and route (the chained route's cache
    // is told no end of stream for its body).
    let [png, gzip, text] = bodies::all();
    for (prefix, body) in [("/exact", &png), ("/chained", &gzip), ("/exact", &text)] {
        let url = format!("http://{}{}", gw.addr, body.path(prefix, "before"));
        let run = wrk(&url, 32, 5, &[]);
        eprintln!("{prefix} {}: {} requests", body.name, run.completed);
        assert!(run.completed > 100, "{prefix} {}: {}", body.name, run.text);
        assert_eq!(run.non_2xx, 0, "{prefix} {}: {}", body.name, run.text);
        assert_eq!(run.socket_errors, 0, "{prefix} {}: {}", body.name, run.text);
        assert!(gw.crashes().is_empty(), "{:?}\n{}", gw.crashes(), gw.log());
    }
    // After the load: the same entries and new ones are still exact.
    for prefix in PREFIXES {
        for body in bodies::all() {
            let what = format!("{prefix} {} after the load", body.name);
            let r = get(gw.addr, &body.path(prefix, "before"), &[]);
            assert_eq!(cache_status(&r), Some("Hit"), "{what}");
            assert_exact(&r, &body, &what);
        }
    }
    miss_then_hit(gw.addr, "after");
    assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
    let log = gw.log();
    let cut_warnings = log
        .lines()
        .filter(|l| l.contains("overriding response body chunk"))
        .count();
    eprintln!("engine warnings about a body changed after its length was sent: {cut_warnings}");
    assert!(!log.contains("could not be taken back"), "{log}");
}
