//! The cache's request flow against an in-memory host (`MockHost`, and `MockRedis` for the
//! redis strategy): Miss then Hit, every Bypass, Refresh, `only-if-cached`, HEAD, the body
//! limit, Redis failures with and without `bypass_on_err`, and purge.

use super::*;
use crate::config::Config;
use crate::filter::Filter;
use redis_filter_core::filter_host::{MockHost, MockRedis};
use redis_filter_core::resp::RedisError;
use redis_filter_core::Reply;

const NOW_MS: u64 = 1_796_040_000_000;
const ROOT: u32 = 1;

fn setup(config: &str) -> (Rc<Filter>, Rc<MockHost>, Rc<MockRedis>) {
    let host = Rc::new(MockHost::default());
    host.now_ms.set(NOW_MS);
    let redis = Rc::new(MockRedis::default());
    let config = Config::parse(config.as_bytes()).unwrap();
    let filter = Filter::with_host(config, host.clone(), Some(redis.clone()), ROOT);
    (Rc::new(filter), host, redis)
}

/// A request's headers (`:method`, `:path` and the rest).
fn request(host: &MockHost, method: &str, path: &str, headers: &[(&str, &str)]) {
    host.next_request();
    let mut h = host.request_headers.borrow_mut();
    h.clear();
    h.insert(":method".into(), method.into());
    h.insert(":path".into(), path.into());
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), v.to_string());
    }
}

/// The upstream's response arrives: headers, then the body in one chunk.
fn respond(
    ctx: &mut CacheRequest,
    host: &MockHost,
    status: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    {
        let mut h = host.response_headers.borrow_mut();
        h.push((":status".into(), status.to_string()));
        for (k, v) in headers {
            h.push((k.to_string(), v.to_string()));
        }
    }
    assert_eq!(ctx.on_response_headers(0, false), Action::Continue);
    *host.response_body.borrow_mut() = body.to_vec();
    assert_eq!(ctx.on_response_body(body.len(), true), Action::Continue);
}

const JSON: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Connection", "keep-alive"),
];

/// One request through the filter: the action of its request phase, and the context.
fn run(
    filter: &Rc<Filter>,
    host: &MockHost,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (CacheRequest, Action) {
    request(host, method, path, headers);
    let mut ctx = CacheRequest::new(7, filter.clone());
    let action = ctx.on_request_headers(0, true);
    (ctx, action)
}

fn local(host: &MockHost) -> Option<redis_filter_core::filter_host::LocalResponse> {
    host.local_response.borrow().clone()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_miss_is_kept_and_the_next_request_is_a_hit_with_age() {
    let (filter, host, _) = setup(r#"{"strategy": "memory"}"#);
    let (mut ctx, action) = run(&filter, &host, "GET", "/a?x=1", &[]);
    assert_eq!(action, Action::Continue);
    respond(&mut ctx, &host, 200, JSON, b"{\"n\":1}");
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Miss")
    );
    let key = host.response_header("X-Cache-Key").unwrap();
    assert_eq!(key, cache_key::sha256_hex("default|GET|GET /a|x=1|"));
    assert_eq!(host.metric("redis_proxy_cache.stored"), 1);

    host.now_ms.set(NOW_MS + 7_000);
    let (_, action) = run(&filter, &host, "GET", "/a?x=1", &[]);
    assert_eq!(action, Action::Pause);
    let (status, headers, body) = local(&host).unwrap();
    assert_eq!((status, body.as_slice()), (200, b"{\"n\":1}".as_slice()));
    assert_eq!(header(&headers, "X-Cache-Status"), Some("Hit"));
    assert_eq!(header(&headers, "X-Cache-Key"), Some(key.as_str()));
    assert_eq!(header(&headers, "age"), Some("7"));
    assert_eq!(header(&headers, "Content-Type"), Some("application/json"));
    assert_eq!(header(&headers, "Connection"), None, "hop-by-hop dropped");
    assert_eq!(host.metric("redis_proxy_cache.hit"), 1);
}

#[test]
fn an_entry_older_than_cache_ttl_is_refreshed() {
    let (filter, host, _) = setup(r#"{"strategy": "memory", "cache_ttl": 10, "storage_ttl": 100}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/a", &[]);
    respond(&mut ctx, &host, 200, JSON, b"1");
    host.now_ms.set(NOW_MS + 11_000);
    let (mut ctx, action) = run(&filter, &host, "GET", "/a", &[]);
    assert_eq!(action, Action::Continue);
    respond(&mut ctx, &host, 200, JSON, b"2");
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Refresh")
    );
    let (_, _) = run(&filter, &host, "GET", "/a", &[]);
    assert_eq!(local(&host).unwrap().2, b"2");
}

#[test]
fn every_bypass() {
    let config = r#"{"strategy": "memory", "cache_control": true}"#;
    let cacheable: &[(&str, &str)] = &[
        ("Content-Type", "application/json"),
        ("Cache-Control", "max-age=60"),
    ];
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        u32,
        Vec<(&'a str, &'a str)>,
    );
    let cases: Vec<Case> = vec![
        ("POST", vec![], 200, cacheable.to_vec()),
        (
            "GET",
            vec![("Cache-Control", "no-store")],
            200,
            cacheable.to_vec(),
        ),
        (
            "GET",
            vec![("Cache-Control", "no-cache")],
            200,
            cacheable.to_vec(),
        ),
        (
            "GET",
            vec![("Authorization", "Bearer x")],
            200,
            cacheable.to_vec(),
        ),
        ("GET", vec![], 500, cacheable.to_vec()),
        (
            "GET",
            vec![],
            200,
            vec![
                ("Content-Type", "application/json; charset=utf-8"),
                ("Cache-Control", "max-age=60"),
            ],
        ),
        (
            "GET",
            vec![],
            200,
            vec![
                ("Content-Type", "application/json"),
                ("Cache-Control", "private, max-age=60"),
            ],
        ),
        (
            "GET",
            vec![],
            200,
            vec![("Content-Type", "application/json")],
        ),
        (
            "GET",
            vec![],
            200,
            vec![
                ("Content-Type", "application/json"),
                ("Cache-Control", "max-age=60"),
                ("Set-Cookie", "a=b"),
            ],
        ),
        (
            "GET",
            vec![],
            200,
            vec![
                ("Content-Type", "application/json"),
                ("Cache-Control", "max-age=60"),
                ("Content-Length", "2000000"),
            ],
        ),
    ];
    for (i, (method, req, status, resp)) in cases.into_iter().enumerate() {
        let (filter, host, _) = setup(config);
        let (mut ctx, action) = run(&filter, &host, method, "/b", &req);
        assert_eq!(action, Action::Continue, "case {i}");
        respond(&mut ctx, &host, status, &resp, b"{}");
        assert_eq!(
            host.response_header("X-Cache-Status").as_deref(),
            Some("Bypass"),
            "case {i}"
        );
        assert_eq!(host.metric("redis_proxy_cache.stored"), 0, "case {i}");
    }
}

#[test]
fn request_directives_decide_refresh_and_only_if_cached_misses_get_504() {
    let (filter, host, _) = setup(r#"{"strategy": "memory", "cache_control": true}"#);
    let (_, action) = run(
        &filter,
        &host,
        "GET",
        "/c",
        &[("Cache-Control", "only-if-cached")],
    );
    assert_eq!(action, Action::Pause);
    let (status, headers, body) = local(&host).unwrap();
    assert_eq!(status, 504);
    assert!(header(&headers, "X-Cache-Key").is_some());
    assert!(String::from_utf8_lossy(&body).contains("The upstream server is timing out"));

    let (mut ctx, _) = run(&filter, &host, "GET", "/c", &[]);
    respond(
        &mut ctx,
        &host,
        200,
        &[
            ("Content-Type", "text/plain"),
            ("Cache-Control", "s-maxage=100, max-age=5"),
        ],
        b"x",
    );
    host.now_ms.set(NOW_MS + 30_000);
    let (_, action) = run(
        &filter,
        &host,
        "GET",
        "/c",
        &[("Cache-Control", "max-age=20")],
    );
    assert_eq!(action, Action::Continue, "older than the client accepts");
    let (_, action) = run(
        &filter,
        &host,
        "GET",
        "/c",
        &[("Cache-Control", "min-fresh=80")],
    );
    assert_eq!(action, Action::Continue, "not fresh enough for the client");
    let (_, action) = run(
        &filter,
        &host,
        "GET",
        "/c",
        &[("Cache-Control", "min-fresh=60")],
    );
    assert_eq!(action, Action::Pause, "a hit");
}

#[test]
fn head_is_cached_apart_and_served_without_a_body() {
    let (filter, host, _) = setup(r#"{"strategy": "memory"}"#);
    let (mut ctx, _) = run(&filter, &host, "HEAD", "/h", &[]);
    host.response_headers.borrow_mut().extend([
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), "text/plain".to_string()),
    ]);
    assert_eq!(ctx.on_response_headers(0, true), Action::Continue);
    let (_, action) = run(&filter, &host, "GET", "/h", &[]);
    assert_eq!(action, Action::Continue, "GET is another key");
    let (_, action) = run(&filter, &host, "HEAD", "/h", &[]);
    assert_eq!(action, Action::Pause);
    assert!(local(&host).unwrap().2.is_empty());
}

#[test]
fn a_body_over_the_limit_midstream_is_not_kept() {
    let (filter, host, _) = setup(r#"{"strategy": "memory", "max_body_size": 4}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/big", &[]);
    respond(&mut ctx, &host, 200, JSON, b"12345");
    assert_eq!(host.metric("redis_proxy_cache.stored"), 0);
}

#[test]
fn redis_lookups_and_writes_without_coalescing() {
    let (filter, host, redis) = setup(r#"{"strategy": "redis", "coalesce_timeout": 0}"#);
    let (mut ctx, action) = run(&filter, &host, "GET", "/r", &[]);
    assert_eq!(action, Action::Pause);
    let (context, _, commands) = redis.submitted.borrow()[0].clone();
    assert_eq!(context, 7);
    assert!(commands[0].contains("GET") && commands[0].contains("proxy-cache:default:{"));
    assert_eq!(
        ctx.on_redis(Step::Fetch.code(), Ok(vec![Reply::Nil])),
        Action::Continue
    );
    respond(&mut ctx, &host, 200, JSON, b"{}");
    let (context, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!(
        (context, tag),
        (ROOT, RootStep::Write.code()),
        "the write is the root's"
    );
    assert_eq!(commands.len(), 1);
    assert!(commands[0].contains("SET") && commands[0].contains("EX"));
    assert!(commands[0].ends_with("$3\r\n300\r\n"), "{}", commands[0]);
}

fn lookup(code: i64) -> Outcome {
    Ok(vec![Reply::Array(vec![Reply::Int(code)])])
}

#[test]
fn a_cold_entry_is_fetched_once_the_others_wait_for_it_in_kongs_engine() {
    let (filter, host, redis) = setup(r#"{"strategy": "redis"}"#);
    host.per_context.set(true);
    // The first request gets the lock, goes upstream, and its write releases the lock.
    let (mut fetcher, _) = run(&filter, &host, "GET", "/cold", &[]);
    let (_, tag, commands) = redis.submitted.borrow()[0].clone();
    assert_eq!(tag, Step::Lookup.code());
    assert!(commands[0].contains("EVALSHA") && commands[0].contains(":lock"));
    assert_eq!(
        fetcher.on_redis(Step::Lookup.code(), lookup(2)),
        Action::Continue
    );
    // A second request finds the lock: it waits (blocking, in a call of its own).
    let (mut waiter, action) = run(&filter, &host, "GET", "/cold", &[]);
    assert_eq!(action, Action::Pause);
    assert_eq!(
        waiter.on_redis(Step::Lookup.code(), lookup(3)),
        Action::Pause
    );
    let (context, tag, commands) = redis.submitted.borrow()[2].clone();
    assert_eq!((context, tag), (7, Step::Wait.code()));
    // BRPOPLPUSH (Redis 5.0 has no BLMOVE), its timeout in whole seconds (all 5.0 takes).
    assert!(
        commands[0].starts_with("*4\r\n$10\r\nBRPOPLPUSH\r\n"),
        "{}",
        commands[0]
    );
    assert!(
        commands[0].ends_with(":done\r\n$1\r\n1\r\n"),
        "{}",
        commands[0]
    );
    assert!(commands[1].contains("GET"));
    // The fetcher's response is kept: SET, then the lock goes and the waiters are woken.
    host.next_request();
    respond(&mut fetcher, &host, 200, JSON, b"{\"v\":1}");
    let (context, tag, commands) = redis.submitted.borrow()[3].clone();
    assert_eq!((context, tag), (ROOT, RootStep::Write.code()));
    let names: Vec<&str> = commands
        .iter()
        .map(|c| c.split("\r\n").nth(2).unwrap())
        .collect();
    assert_eq!(names, ["SET", "DEL", "RPUSH", "PEXPIRE"]);
    // The waiter is handed the entry.
    let entry = crate::entry::Entry {
        version: crate::entry::VERSION,
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{\"v\":1}".to_vec(),
        timestamp: NOW_MS / 1000,
        ttl: 300,
        expires_at_ms: None,
        stale: crate::windows::Windows::default(),
    };
    host.next_request();
    let woke = Ok(vec![
        Reply::Bulk(b"1".to_vec()),
        Reply::Bulk(entry.encode()),
    ]);
    assert_eq!(waiter.on_redis(Step::Wait.code(), woke), Action::Pause);
    let (status, headers, body) = local(&host).unwrap();
    assert_eq!((status, body.as_slice()), (200, b"{\"v\":1}".as_slice()));
    assert_eq!(header(&headers, "X-Cache-Status"), Some("Hit"));
    assert_eq!(host.metric("redis_proxy_cache.coalesced"), 1);
}

#[test]
fn a_fetcher_that_keeps_nothing_lets_the_waiters_go_and_they_go_upstream() {
    let (filter, host, redis) = setup(r#"{"strategy": "redis"}"#);
    let (mut fetcher, _) = run(&filter, &host, "GET", "/e", &[]);
    fetcher.on_redis(Step::Lookup.code(), lookup(2));
    respond(&mut fetcher, &host, 500, JSON, b"{}");
    let (context, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!((context, tag), (ROOT, RootStep::Release.code()));
    assert!(commands[0].contains("DEL") && commands[1].contains("RPUSH"));
    fetcher.on_log();
    assert_eq!(redis.submitted.borrow().len(), 2, "released once");
    // A waiter woken with no entry goes upstream itself (and may keep the response).
    host.per_context.set(true);
    let (mut waiter, _) = run(&filter, &host, "GET", "/e", &[]);
    waiter.on_redis(Step::Lookup.code(), lookup(3));
    let action = waiter.on_redis(Step::Wait.code(), Ok(vec![Reply::Nil, Reply::Nil]));
    assert_eq!(action, Action::Continue);
    respond(&mut waiter, &host, 200, JSON, b"{}");
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Miss")
    );
}

#[test]
fn redis_down_bypasses_with_bypass_on_err_and_otherwise_answers_502() {
    let (filter, host, _) = setup(r#"{"strategy": "redis", "bypass_on_err": true}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/d", &[]);
    assert_eq!(
        ctx.on_redis(Step::Lookup.code(), Err(RedisError::Timeout)),
        Action::Continue
    );
    respond(&mut ctx, &host, 200, JSON, b"{}");
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Bypass")
    );
    assert!(host.local_response.borrow().is_none());
    assert_eq!(host.metric("redis_proxy_cache.redis_errors"), 1);
    assert!(host.logs.borrow()[0].1.contains("timeout"));

    let (filter, host, _) = setup(r#"{"strategy": "redis"}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/d", &[]);
    assert_eq!(
        ctx.on_redis(Step::Lookup.code(), Err(RedisError::Timeout)),
        Action::Pause
    );
    let (status, headers, body) = local(&host).unwrap();
    assert_eq!(status, 502);
    assert!(header(&headers, "X-Cache-Key").is_some());
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("timeout"),
        "{body}"
    );
    assert!(ctx.on_response_headers(0, false) == Action::Continue);
    assert_eq!(host.metric("redis_proxy_cache.redis_errors"), 1);
}

#[test]
fn purge_needs_the_secret_and_answers_204_then_404() {
    let config = r#"{"strategy": "memory", "purge": {"secret": "0123456789abcdef"}}"#;
    let (filter, host, _) = setup(config);
    let (mut ctx, _) = run(&filter, &host, "GET", "/p", &[]);
    respond(&mut ctx, &host, 200, JSON, b"{}");
    let key = host.response_header("X-Cache-Key").unwrap();
    let path = format!("/proxy-cache/{key}");
    let (_, action) = run(
        &filter,
        &host,
        "DELETE",
        &path,
        &[("X-Cache-Purge-Secret", "wrong")],
    );
    assert_eq!(action, Action::Pause);
    assert_eq!(local(&host).unwrap().0, 401);
    let secret = [("X-Cache-Purge-Secret", "0123456789abcdef")];
    run(&filter, &host, "DELETE", &path, &secret);
    assert_eq!(local(&host).unwrap().0, 204);
    run(&filter, &host, "DELETE", &path, &secret);
    assert_eq!(local(&host).unwrap().0, 404);
    let (_, action) = run(&filter, &host, "GET", "/p", &[]);
    assert_eq!(action, Action::Continue, "purged: a miss");
}

#[test]
fn response_headers_flags_and_kong_debug() {
    let config = r#"{"strategy": "memory", "response_headers": {"X-Cache-Key": false, "X-Cache-Status": false}}"#;
    let (filter, host, _) = setup(config);
    let (mut ctx, _) = run(&filter, &host, "GET", "/f", &[]);
    respond(&mut ctx, &host, 200, JSON, b"{}");
    assert_eq!(host.response_header("X-Cache-Key"), None);
    assert_eq!(host.response_header("X-Cache-Status"), None);
    run(&filter, &host, "GET", "/f", &[("Kong-Debug", "1")]);
    let (_, headers, _) = local(&host).unwrap();
    assert_eq!(header(&headers, "X-Cache-Status"), Some("Hit"));
}

#[test]
fn in_envoy_the_root_looks_the_entry_up_again_for_the_waiters_until_their_wait_ends() {
    let (filter, host, redis) = setup(r#"{"strategy": "redis"}"#);
    let (mut waiter, _) = run(&filter, &host, "GET", "/w", &[]);
    assert_eq!(
        waiter.on_redis(Step::Lookup.code(), lookup(3)),
        Action::Pause
    );
    assert_eq!(filter.waiting.borrow().len(), 1, "parked");
    filter.poll_waiters();
    let (context, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!(
        (context, tag),
        (7, Step::Lookup.code()),
        "looked up again for the waiter"
    );
    assert!(commands[0].contains("EVALSHA"));
    assert_eq!(
        waiter.on_redis(Step::Lookup.code(), lookup(3)),
        Action::Pause,
        "still locked"
    );
    host.now_ms.set(NOW_MS + 1000);
    assert_eq!(
        waiter.on_redis(Step::Lookup.code(), lookup(3)),
        Action::Continue,
        "its wait is over"
    );
    respond(&mut waiter, &host, 200, JSON, b"{}");
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Miss")
    );
    waiter.on_log();
    assert!(filter.waiting.borrow().is_empty());
}

#[test]
fn stale_while_revalidate_one_request_refreshes_the_others_get_the_stale_entry() {
    let config = r#"{"strategy": "memory", "cache_ttl": 10, "stale_while_revalidate": 30}"#;
    // memory has no lock: the request refreshes (the redis flow is tested end to end).
    let (filter, host, _) = setup(config);
    let (mut ctx, _) = run(&filter, &host, "GET", "/s", &[]);
    respond(&mut ctx, &host, 200, JSON, b"old");
    host.now_ms.set(NOW_MS + 15_000);
    let (_, action) = run(&filter, &host, "GET", "/s", &[]);
    assert_eq!(action, Action::Continue);

    let config = r#"{"strategy": "redis", "cache_ttl": 10, "stale_while_revalidate": 30}"#;
    let (filter, host, redis) = setup(config);
    let stale = crate::entry::Entry {
        version: crate::entry::VERSION,
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"old".to_vec(),
        timestamp: NOW_MS / 1000 - 15,
        ttl: 10,
        expires_at_ms: None,
        stale: crate::windows::Windows {
            while_revalidate: 30,
            if_error: 0,
        },
    };
    let found = || {
        Ok(vec![Reply::Array(vec![
            Reply::Int(1),
            Reply::Bulk(stale.encode()),
        ])])
    };
    let (mut first, _) = run(&filter, &host, "GET", "/s", &[]);
    assert_eq!(
        first.on_redis(Step::Lookup.code(), found()),
        Action::Pause,
        "asks for the lock"
    );
    let (_, _, commands) = redis.submitted.borrow()[1].clone();
    assert!(commands[0].contains("NX") && commands[0].contains(":lock"));
    let ok = Ok(vec![Reply::Status("OK".into())]);
    assert_eq!(
        first.on_redis(Step::Revalidate.code(), ok),
        Action::Continue,
        "it refreshes"
    );
    let (mut second, _) = run(&filter, &host, "GET", "/s", &[]);
    second.on_redis(Step::Lookup.code(), found());
    assert_eq!(
        second.on_redis(Step::Revalidate.code(), Ok(vec![Reply::Nil])),
        Action::Pause
    );
    let (status, headers, body) = local(&host).unwrap();
    assert_eq!((status, body.as_slice()), (200, b"old".as_slice()));
    assert_eq!(header(&headers, "X-Cache-Status"), Some("Stale"));
    assert_eq!(header(&headers, "age"), Some("15"));
}

#[test]
fn stale_if_error_serves_the_stale_entry_instead_of_a_5xx() {
    let config = r#"{"strategy": "memory", "cache_ttl": 10, "stale_if_error": 60}"#;
    let (filter, host, _) = setup(config);
    let (mut ctx, _) = run(&filter, &host, "GET", "/e", &[]);
    respond(&mut ctx, &host, 200, JSON, b"good");
    host.now_ms.set(NOW_MS + 20_000);
    let (mut ctx, action) = run(&filter, &host, "GET", "/e", &[]);
    assert_eq!(action, Action::Continue, "stale: upstream");
    respond(
        &mut ctx,
        &host,
        503,
        &[("Content-Type", "text/html")],
        b"down",
    );
    assert_eq!(host.response_header(":status").as_deref(), Some("200"));
    assert_eq!(
        host.response_header("X-Cache-Status").as_deref(),
        Some("Stale")
    );
    assert_eq!(
        host.response_header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(host.response_header("content-length").as_deref(), Some("4"));
    assert_eq!(host.response_body.borrow().as_slice(), b"good");
    // Past the window: the error goes through.
    host.now_ms.set(NOW_MS + 80_000);
    let (mut ctx, _) = run(&filter, &host, "GET", "/e", &[]);
    respond(
        &mut ctx,
        &host,
        503,
        &[("Content-Type", "text/html")],
        b"down",
    );
    assert_eq!(host.response_header(":status").as_deref(), Some("503"));
}

#[test]
fn a_body_as_long_as_its_content_length_is_whole_without_end_of_stream() {
    // Kong's engine never says end_of_stream for a body that comes in several chunks.
    let (filter, host, _) = setup(r#"{"strategy": "memory"}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/chunks", &[]);
    host.response_headers.borrow_mut().extend([
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), "application/json".to_string()),
        ("content-length".to_string(), "6".to_string()),
    ]);
    ctx.on_response_headers(0, false);
    for chunk in [b"abc", b"def"] {
        *host.response_body.borrow_mut() = chunk.to_vec();
        ctx.on_response_body(3, false);
    }
    assert_eq!(host.metric("redis_proxy_cache.stored"), 1);
    run(&filter, &host, "GET", "/chunks", &[]);
    assert_eq!(local(&host).unwrap().2, b"abcdef");
}

#[test]
fn an_authenticated_consumer_prefixes_the_key_as_in_kong() {
    let (filter, host, _) = setup(r#"{"strategy": "memory", "route_id": "r1"}"#);
    let (mut ctx, _) = run(&filter, &host, "GET", "/c", &[]);
    respond(&mut ctx, &host, 200, JSON, b"{}");
    assert_eq!(
        host.response_header("X-Cache-Key").unwrap(),
        cache_key::sha256_hex("r1|GET|GET /c HTTP/1.1||")
    );
    request(&host, "GET", "/c", &[]);
    let consumer = redis_filter_core::identity::Consumer {
        id: "c-alice".into(),
        ..Default::default()
    };
    redis_filter_core::identity::hand_over(host.as_ref(), &consumer).unwrap();
    let mut ctx = CacheRequest::new(8, filter.clone());
    assert_eq!(
        ctx.on_request_headers(0, true),
        Action::Continue,
        "another entry: a miss"
    );
    respond(&mut ctx, &host, 200, JSON, b"{}");
    assert_eq!(
        host.response_header("X-Cache-Key").unwrap(),
        cache_key::sha256_hex("c-alice:r1|GET|GET /c HTTP/1.1||")
    );
}

#[path = "newline_tests.rs"]
mod newline;
