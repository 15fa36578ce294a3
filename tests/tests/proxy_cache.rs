//! redis-proxy-cache end to end, against a real redis-server, on every host (the harness with
//! Kong's rules, Envoy, Kong's engine where found): a Miss on one gateway is a Hit on another,
//! `X-Cache-Key` is Kong's formula computed here independently, every Bypass, vary fields,
//! expiry, the body limit, Redis down with and without `bypass_on_err`, purge.

use e2e_tests::bodies;
use e2e_tests::gateway::{all_hosts, Gateway, Host, ROUTE_ID, SERVICE_ID};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, request, Response};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::load::{summarize, Load};
use e2e_tests::{eventually, eventually_ok};
use e2e_tests::{RedisServer, RedisVersion};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Runs `case` on every host against every Redis (the current one, and 5.0 where found), one
/// server of each shared by the hosts and emptied before each case.
fn on_every_host_and_redis(test: &str, case: impl Fn(Host, &RedisServer)) {
    let servers: Vec<RedisServer> = RedisVersion::all(test)
        .into_iter()
        .map(|version| version.start(&[]))
        .collect();
    for host in all_hosts(test) {
        for redis in &servers {
            redis.flush_all();
            eprintln!("{test}: {host:?}, Redis {}", redis.version());
            case(host, redis);
        }
    }
}

/// `on_every_host_and_redis` for a case that needs a server of its own (it stops it).
fn on_every_host_and_redis_version(test: &str, case: impl Fn(Host, RedisVersion)) {
    let versions = RedisVersion::all(test);
    for host in all_hosts(test) {
        for version in &versions {
            eprintln!("{test}: {host:?}, Redis {version:?}");
            case(host, *version);
        }
    }
}

/// A kong.yml with one route per `(path, config)` carrying redis-proxy-cache.
fn yaml(routes: &[(&str, String)]) -> String {
    let mut yml = KongYml::new().service_id(SERVICE_ID);
    for (i, (path, config)) in routes.iter().enumerate() {
        let mut route = Route::at(path).strip_path(false);
        if i == 0 {
            route = route.id(ROUTE_ID);
        }
        yml = yml.route(route.filter("redis-proxy-cache", config));
    }
    yml.to_string()
}

fn config(redis: &RedisServer, extra: &str) -> String {
    format!(
        r#"{{"strategy": "redis", "redis_host": "127.0.0.1", "redis_port": {}, "content_type": ["application/json"]{extra}}}"#,
        redis.port
    )
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Kong's key for a GET on the first route: the harness has Kong's `kong.route_id`; Envoy and
/// plain nginx have no route id, so Kong's prefix is `default` there.
fn kong_key(host: Host, uri: &str, params: &str, headers: &str) -> String {
    let prefix = match host {
        Host::Harness => ROUTE_ID,
        _ => "default",
    };
    sha256_hex(&format!("{prefix}|GET|{uri}|{params}|{headers}"))
}

/// Waits until `f` holds (a write from Kong's engine leaves from the root's next tick).
fn status(r: &Response) -> Option<&str> {
    r.header("x-cache-status")
}

/// A GET answered from the cache: same body as `first`, `Hit`, an `Age`.
fn assert_hit(host: Host, r: &Response, first: &Response) {
    assert_eq!(r.status, 200, "{host:?}");
    assert_eq!(status(r), Some("Hit"), "{host:?}: {:?}", r.headers);
    assert_eq!(
        r.body, first.body,
        "{host:?}: the stored body, byte for byte"
    );
    // A keep-alive client reads exactly Content-Length bytes.
    let length = r.body.len().to_string();
    assert_eq!(
        r.header("content-length"),
        Some(length.as_str()),
        "{host:?}: {:?}",
        r.headers
    );
    assert!(r.header("age").is_some(), "{host:?}: {:?}", r.headers);
}

#[test]
fn a_miss_on_one_gateway_is_a_hit_on_another_with_kongs_key() {
    on_every_host_and_redis(
        "a_miss_on_one_gateway_is_a_hit_on_another_with_kongs_key",
        |host, redis| {
            let kong_yml = yaml(&[("/", config(redis, ""))]);
            let a = Gateway::start(host, &kong_yml, &dist_dir());
            let b = Gateway::start(host, &kong_yml, &dist_dir());
            let path = "/products?page=2&sort=asc";
            let first = get(a.addr(), path, &[("x-nonce", "first")]);
            assert_eq!(first.status, 200, "{host:?}: {}", a.log());
            assert_eq!(
                status(&first),
                Some("Miss"),
                "{host:?}: {:?}",
                first.headers
            );
            let key = kong_key(host, "GET /products", "page=2:sort=asc", "");
            assert_eq!(first.header("x-cache-key"), Some(key.as_str()), "{host:?}");
            let redis_key = format!(
                "proxy-cache:{}:{{{key}}}",
                if host == Host::Harness {
                    ROUTE_ID
                } else {
                    "default"
                }
            );
            eventually("the entry in Redis", Duration::from_secs(5), || {
                redis.cmd(&["EXISTS", &redis_key]) == b":1\r\n"
            });
            let ttl = String::from_utf8_lossy(&redis.cmd(&["TTL", &redis_key])).into_owned();
            assert!(
                ttl.starts_with(":29") || ttl.starts_with(":300"),
                "{host:?}: TTL {ttl}"
            );
            let second = get(b.addr(), path, &[("x-nonce", "second")]);
            assert_hit(host, &second, &first);
            assert_eq!(second.header("x-cache-key"), Some(key.as_str()));
            // The same args in another order are the same entry; a path without a query keeps
            // the protocol in Kong's request line.
            let again = get(a.addr(), "/products?sort=asc&page=2", &[]);
            assert_hit(host, &again, &first);
            // Age grows.
            let age = |r: &Response| r.header("age").and_then(|a| a.parse::<u64>().ok());
            eventually(
                &format!("{host:?}: Age growing"),
                Duration::from_secs(5),
                || {
                    let later = get(b.addr(), path, &[]);
                    status(&later) == Some("Hit") && age(&later) > age(&second)
                },
            );
            // HEAD is its own entry, answered without a body.
            let head = request(a.addr(), "HEAD", path, &[], b"");
            assert_eq!(status(&head), Some("Miss"), "{host:?}: {:?}", head.headers);
            eventually("a HEAD hit", Duration::from_secs(5), || {
                let r = request(b.addr(), "HEAD", path, &[], b"");
                status(&r) == Some("Hit") && r.body.is_empty()
            });
            let bare = get(a.addr(), "/products", &[]);
            let key = kong_key(host, "GET /products HTTP/1.1", "", "");
            assert_eq!(bare.header("x-cache-key"), Some(key.as_str()), "{host:?}");
            assert!(a.crashes().is_empty(), "{host:?}: {:?}", a.crashes());
            assert!(b.crashes().is_empty(), "{host:?}: {:?}", b.crashes());
        },
    );
}

#[test]
fn every_bypass_vary_fields_and_the_body_limit() {
    on_every_host_and_redis(
        "every_bypass_vary_fields_and_the_body_limit",
        |host, redis| {
            let routes = [
                ("/plain", config(redis, r#", "max_body_size": 1000"#)),
                ("/cc", config(redis, r#", "cache_control": true"#)),
                (
                    "/vary",
                    config(
                        redis,
                        r#", "vary_query_params": ["lang"], "vary_headers": ["X-Tenant"]"#,
                    ),
                ),
            ];
            let gw = Gateway::start(host, &yaml(&routes), &dist_dir());
            let bypass = |method: &str, path: &str, headers: &[(&str, &str)]| {
                let r = request(gw.addr(), method, path, headers, b"");
                assert_eq!(
                    status(&r),
                    Some("Bypass"),
                    "{host:?} {method} {path}: {:?}",
                    r.headers
                );
            };
            bypass("POST", "/plain/a", &[]);
            bypass("GET", "/plain/a?status=500", &[]);
            bypass("GET", "/plain/a?header=Set-Cookie:s=1", &[]);
            bypass("GET", "/plain/a", &[("authorization", "Bearer x")]);
            bypass("GET", "/plain/a?body_size=2000", &[]);
            bypass("GET", "/cc/a", &[]); // no max-age: TTL 0 with cache_control
            bypass("GET", "/cc/a?header=Cache-Control:private,max-age=60", &[]);
            bypass(
                "GET",
                "/cc/a?header=Cache-Control:max-age=60",
                &[("cache-control", "no-store")],
            );
            // Cacheable with cache_control: a Miss, then a Hit.
            let path = "/cc/b?header=Cache-Control:max-age=60";
            let first = get(gw.addr(), path, &[]);
            assert_eq!(status(&first), Some("Miss"), "{host:?}");
            eventually("a hit", Duration::from_secs(5), || {
                status(&get(gw.addr(), path, &[])) == Some("Hit")
            });
            // Vary: only `lang` and X-Tenant make the key.
            let fr = get(gw.addr(), "/vary?lang=fr&x=1", &[("x-tenant", "a")]);
            let key = |r: &Response| r.header("x-cache-key").map(str::to_string);
            assert_eq!(
                key(&fr),
                key(&get(gw.addr(), "/vary?x=2&lang=fr", &[("x-tenant", "a")]))
            );
            assert_ne!(
                key(&fr),
                key(&get(gw.addr(), "/vary?lang=en", &[("x-tenant", "a")]))
            );
            assert_ne!(
                key(&fr),
                key(&get(gw.addr(), "/vary?lang=fr", &[("x-tenant", "b")]))
            );
            assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
        },
    );
}

#[test]
fn entries_expire_and_purge_needs_the_secret() {
    on_every_host_and_redis(
        "entries_expire_and_purge_needs_the_secret",
        |host, redis| {
            let purge = r#", "purge": {"secret": "0123456789abcdef"}"#;
            let routes = [
                ("/", config(redis, purge)),
                ("/short", config(redis, r#", "cache_ttl": 1"#)),
            ];
            let gw = Gateway::start(host, &yaml(&routes), &dist_dir());
            let first = get(gw.addr(), "/short", &[]);
            assert_eq!(status(&first), Some("Miss"), "{host:?}");
            eventually("a hit", Duration::from_secs(5), || {
                status(&get(gw.addr(), "/short", &[])) == Some("Hit")
            });
            // cache_ttl 1: the entry expires.
            eventually(
                &format!("{host:?}: expired"),
                Duration::from_secs(5),
                || status(&get(gw.addr(), "/short", &[])) != Some("Hit"),
            );

            let first = get(gw.addr(), "/p", &[]);
            let key = first.header("x-cache-key").unwrap().to_string();
            eventually("a hit", Duration::from_secs(5), || {
                status(&get(gw.addr(), "/p", &[])) == Some("Hit")
            });
            let purge_path = format!("/proxy-cache/{key}");
            let wrong = request(
                gw.addr(),
                "DELETE",
                &purge_path,
                &[("x-cache-purge-secret", "nope")],
                b"",
            );
            assert_eq!(wrong.status, 401, "{host:?}");
            let secret = [("x-cache-purge-secret", "0123456789abcdef")];
            let purged = request(gw.addr(), "DELETE", &purge_path, &secret, b"");
            assert_eq!(purged.status, 204, "{host:?}: {}", purged.text());
            let again = request(gw.addr(), "DELETE", &purge_path, &secret, b"");
            assert_eq!(again.status, 404, "{host:?}");
            assert_eq!(status(&get(gw.addr(), "/p", &[])), Some("Miss"), "{host:?}");
            assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
        },
    );
}

#[test]
fn redis_down_bypasses_or_answers_502() {
    on_every_host_and_redis_version("redis_down_bypasses_or_answers_502", |host, version| {
        let redis = version.start(&[]);
        let routes = [
            ("/", config(&redis, "")),
            ("/bypass", config(&redis, r#", "bypass_on_err": true"#)),
        ];
        let gw = Gateway::start(host, &yaml(&routes), &dist_dir());
        assert_eq!(status(&get(gw.addr(), "/a", &[])), Some("Miss"), "{host:?}");
        assert_eq!(
            status(&get(gw.addr(), "/bypass/a", &[])),
            Some("Miss"),
            "{host:?}"
        );
        // Redis stops under load: with bypass_on_err every request still goes upstream (no
        // 5xx); without it each gets its 502; none is left unanswered.
        let bypassing = Load::start_on(gw.addr(), "/bypass/a", 3, "x-cache-key");
        let failing = Load::start_on(gw.addr(), "/a", 2, "x-cache-key");
        let phase = Duration::from_secs(15);
        bypassing.run_for(20, phase);
        failing.run_for(10, phase);
        let killed = Instant::now();
        redis.kill();
        bypassing.run_for(40, phase);
        failing.run_for(20, phase);
        let summary = summarize(&bypassing.stop(), killed);
        assert_eq!(summary.failed, 0, "{host:?}: {summary:?}");
        let samples = failing.stop();
        assert!(
            samples.iter().all(|s| s.status == 200 || s.status == 502),
            "{host:?}: {:?}",
            samples.iter().map(|s| s.status).collect::<Vec<_>>()
        );
        // The phase saw Redis gone: the route without bypass_on_err answered 502 under load.
        assert!(
            samples.iter().any(|s| s.at > killed && s.status == 502),
            "{host:?}: no 502 after the kill"
        );
        for _ in 0..5 {
            let r = get(gw.addr(), "/bypass/a", &[]);
            assert_eq!(r.status, 200, "{host:?}");
            assert_eq!(status(&r), Some("Bypass"), "{host:?}");
            // Without it, proxy-cache-advanced's unhandled error: 502 with the error.
            let r = get(gw.addr(), "/a", &[]);
            assert_eq!(r.status, 502, "{host:?}: {}", r.text());
            assert!(r.json()["message"].is_string(), "{host:?}: {}", r.text());
            assert!(r.header("x-cache-key").is_some(), "{host:?}");
        }
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    });
}

#[test]
fn a_stampede_on_a_cold_key_reaches_the_upstream_once() {
    on_every_host_and_redis(
        "a_stampede_on_a_cold_key_reaches_the_upstream_once",
        |host, redis| {
            let kong_yml = yaml(&[("/", config(redis, ""))]);
            let gateways = [
                Gateway::start(host, &kong_yml, &dist_dir()),
                Gateway::start(host, &kong_yml, &dist_dir()),
            ];
            let addrs: Vec<_> = gateways.iter().map(Gateway::addr).collect();
            let handles: Vec<_> = (0..100)
                .map(|i| {
                    let addr = addrs[i % 2];
                    std::thread::spawn(move || {
                        let nonce = format!("n{i}");
                        get(addr, "/cold?delay_ms=300", &[("x-nonce", &nonce)])
                    })
                })
                .collect();
            let answers: Vec<Response> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            for r in &answers {
                assert_eq!(r.status, 200, "{host:?}: {}", r.text());
            }
            let bodies: std::collections::HashSet<&[u8]> =
                answers.iter().map(|r| r.body.as_slice()).collect();
            let statuses: Vec<_> = answers.iter().map(|r| status(r).unwrap_or("-")).collect();
            assert_eq!(
                bodies.len(),
                1,
                "{host:?}: the upstream was reached {} times: {statuses:?}",
                bodies.len()
            );
            assert_eq!(
                statuses.iter().filter(|s| **s == "Miss").count(),
                1,
                "{host:?}: {statuses:?}"
            );
            for gw in &gateways {
                assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
            }
        },
    );
}

/// RFC 5861 beyond Kong: past its freshness an entry is served `Stale` while one request
/// fetches a fresh copy, and in place of an upstream 503.
#[test]
fn stale_while_revalidate_and_stale_if_error() {
    on_every_host_and_redis(
        "stale_while_revalidate_and_stale_if_error",
        |host, redis| {
            let routes = [
                (
                    "/swr",
                    config(
                        redis,
                        r#", "cache_ttl": 1, "stale_while_revalidate": 30, "vary_query_params": ["id"]"#,
                    ),
                ),
                (
                    "/sie",
                    config(
                        redis,
                        r#", "cache_ttl": 1, "stale_if_error": 60, "vary_query_params": ["id"]"#,
                    ),
                ),
            ];
            let gw = Gateway::start(host, &yaml(&routes), &dist_dir());
            let addr = gw.addr();
            let first = get(addr, "/sie?id=1", &[("x-nonce", "first")]);
            assert_eq!(status(&first), Some("Miss"), "{host:?}");
            let swr_first = get(addr, "/swr?id=1", &[("x-nonce", "first")]);
            eventually("hits", Duration::from_secs(5), || {
                status(&get(addr, "/sie?id=1", &[])) == Some("Hit")
                    && status(&get(addr, "/swr?id=1", &[])) == Some("Hit")
            });
            // stale-if-error: once the entry is past its second, the upstream fails and the
            // stale entry answers. (Until then a Hit answers, which changes nothing.)
            let r = eventually_ok(
                &format!("{host:?}: the stale entry answering a 503"),
                Duration::from_secs(5),
                || {
                    let r = get(addr, "/sie?id=1&status=503", &[]);
                    match status(&r) {
                        Some("Stale") => Ok(r),
                        Some("Hit") => Err("still fresh".into()),
                        other => panic!("{host:?}: {other:?} {} {:?}", r.status, r.headers),
                    }
                },
            );
            assert_eq!(r.status, 200, "{host:?}: {:?}", r.headers);
            assert_eq!(r.body, first.body, "{host:?}: the stale body");

            // stale-while-revalidate: one slow refresh; meanwhile the stale entry is served. The
            // refresher asks until its request is the one that refreshes (before the entry is
            // stale it gets quick Hits), and holds the entry's lock while the upstream is slow.
            let refresher = std::thread::spawn(move || loop {
                let r = get(addr, "/swr?id=1&delay_ms=600", &[("x-nonce", "second")]);
                if status(&r) != Some("Hit") {
                    break r;
                }
            });
            let cache_key = swr_first.header("x-cache-key").unwrap_or_default();
            let lock = format!("*{cache_key}*:lock");
            eventually(
                &format!("{host:?}: the refresher holding {lock}"),
                Duration::from_secs(5),
                || {
                    redis
                        .request(&["KEYS", &lock])
                        .is_ok_and(|r| !r.items().is_empty())
                },
            );
            let stale = get(addr, "/swr?id=1", &[]);
            assert_eq!(
                status(&stale),
                Some("Stale"),
                "{host:?}: {:?}",
                stale.headers
            );
            assert_eq!(stale.body, swr_first.body, "{host:?}");
            let refreshed = refresher.join().unwrap();
            assert_eq!(status(&refreshed), Some("Refresh"), "{host:?}");
            // The fresh copy replaced the stale one. (It is fresh for one second only: on a loaded
            // machine a later refresh may have replaced it in turn, so any new copy counts.)
            assert_ne!(refreshed.body, swr_first.body, "{host:?}");
            eventually("the fresh entry", Duration::from_secs(5), || {
                let r = get(addr, "/swr?id=1", &[]);
                status(&r) == Some("Hit") && r.body != swr_first.body
            });
            assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
        },
    );
}

/// A body near the default limit (900 KiB) is stored whole and served byte for byte.
#[test]
fn a_large_body_round_trips() {
    on_every_host_and_redis("a_large_body_round_trips", |host, redis| {
        let gw = Gateway::start(host, &yaml(&[("/", config(redis, ""))]), &dist_dir());
        let path = "/big?body_size=921600";
        let first = get(gw.addr(), path, &[]);
        assert_eq!(status(&first), Some("Miss"), "{host:?}");
        assert_eq!(first.body.len(), 921_600);
        eventually_ok(&format!("{host:?}: a hit"), Duration::from_secs(5), || {
            let r = get(gw.addr(), path, &[]);
            if status(&r) == Some("Hit") && r.body == first.body {
                return Ok(());
            }
            let last = (r.status, r.headers.clone(), r.body.len());
            let keys = String::from_utf8_lossy(&redis.cmd(&["KEYS", "*"])).into_owned();
            Err(format!("{last:?}; keys {keys}; {}", gw.log()))
        });
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    });
}

/// Bodies of every kind (a PNG, a gzipped JSON, text without a final newline) come out of the
/// cache byte for byte with their own `Content-Length`, `Content-Type` and
/// `Content-Encoding`; the request right after the Miss waits for its write and is a Hit. In
/// Kong's engine (and the harness's kong profile) a Hit takes back the newline the engine adds
/// to a local response's body (engine bug 6), also when a filter follows the cache.
#[test]
fn cached_bodies_of_every_kind_come_out_byte_for_byte() {
    let test = "cached_bodies_of_every_kind_come_out_byte_for_byte";
    on_every_host_and_redis(test, |host, redis| {
        let gw = Gateway::start(host, &bodies::kong_yml(redis.port), &dist_dir());
        for prefix in ["/exact", "/chained"] {
            for body in bodies::all() {
                let path = body.path(prefix, "1");
                let miss = get(gw.addr(), &path, &[]);
                assert_eq!(
                    status(&miss),
                    Some("Miss"),
                    "{host:?} {prefix} {}",
                    body.name
                );
                assert_eq!(miss.body, body.bytes, "{host:?} {prefix} {}", body.name);
                let hit = get(gw.addr(), &path, &[]);
                assert_eq!(status(&hit), Some("Hit"), "{host:?} {prefix} {}", body.name);
                assert_same_response(host, &hit, &miss, body.name);
            }
        }
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    });
}

/// A Hit is the Miss again: status, body bytes, length, type and encoding.
fn assert_same_response(host: Host, hit: &Response, miss: &Response, name: &str) {
    assert_eq!(hit.status, miss.status, "{host:?} {name}");
    assert_eq!(hit.body, miss.body, "{host:?} {name}: byte for byte");
    let length = hit.body.len().to_string();
    assert_eq!(
        hit.header("content-length"),
        Some(length.as_str()),
        "{host:?} {name}"
    );
    for header in ["content-type", "content-encoding"] {
        assert_eq!(
            hit.header(header),
            miss.header(header),
            "{host:?} {name}: {header}"
        );
    }
}
