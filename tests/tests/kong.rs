//! The filters in Kong itself (3.9.3, built from source by scripts/kong-from-source.sh), dbless
//! from a kong.yml with `filter_chains`, Redis reached through the bridge inside Kong's nginx
//! (`nginx_http_include`): the demo's routes; keys from Kong's own route and service ids, equal
//! to the keys Kong's Lua plugins build; the consumer handed on through `kong.ctx.shared`; a config
//! the meta.json refuses, refused by Kong; the chains users build, as separate filters and as one
//! redis-chain, under load; and a mixed fleet, Kong's own rate-limiting plugin on one Kong and
//! our filter on another, counting one limit. Skipped, with a line saying so, where Kong is not
//! found.

use e2e_tests::http::get;
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::real_kong::{available, Kong};
use e2e_tests::{alice, clock};
use e2e_tests::{demo_kong_yml, RedisServer};
use redis_filter_core::hmac::sha256_hex;

const EMPTY_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn redis_allow(redis: &RedisServer) -> String {
    format!("127.0.0.1:{}", redis.port)
}

/// The Redis keys matching `pattern`.
fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    String::from_utf8_lossy(&redis.cmd(&["KEYS", pattern]))
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_demo_serves_in_kong_with_kongs_headers_and_keys() {
    if !available("demo") {
        return;
    }
    clock::wait_for_a_fresh_minute(20);
    let redis = RedisServer::start(&[]);
    let kong = Kong::start(&demo_kong_yml(&redis), &[&redis_allow(&redis)]);

    // Use case 1: 5 a minute on /api, Kong's headers, the 6th refused with Kong's message.
    for i in 1..=5 {
        let r = get(kong.addr, "/api", &[]);
        assert_eq!(r.status, 200, "request {i}: {}\n{}", r.text(), kong.log());
        assert_eq!(r.header("X-RateLimit-Limit-Minute"), Some("5"));
        assert_eq!(
            r.header("X-RateLimit-Remaining-Minute"),
            Some((5 - i).to_string().as_str())
        );
    }
    let refused = get(kong.addr, "/api", &[]);
    assert_eq!(refused.status, 429, "{}", kong.log());
    assert_eq!(refused.json()["message"], "API rate limit exceeded");

    // Use case 2: the catalog cached in Redis (the demo's request, whose response says how long
    // it may be kept), under the key Kong's proxy-cache builds for the matched route:
    // sha256("<route id>|<method>|<request line cut at the ?>|<query args k=v, sorted>|<headers>"),
    // the request line losing its protocol with the query.
    let route = kong.id_of("routes", "catalog");
    // The harness gives entities declared without an id the ids Kong gives them.
    let harness_id = redis_filters::kong_config::uuid_from_name;
    assert_eq!(route, harness_id("routes", "catalog"));
    assert_eq!(
        kong.id_of("services", "product-catalog"),
        harness_id("services", "product-catalog")
    );
    let url = "/catalog/items?header=Cache-Control:public,max-age=300";
    let miss = get(kong.addr, url, &[]);
    assert_eq!(miss.status, 200, "{}", kong.log());
    assert_eq!(
        miss.header("X-Cache-Status"),
        Some("Miss"),
        "{:?}\n{}",
        miss.headers,
        e2e_tests::log_tail(&kong.log(), 30)
    );
    let hit = get(kong.addr, url, &[]);
    assert_eq!(hit.header("X-Cache-Status"), Some("Hit"), "{}", kong.log());
    assert_eq!(hit.body, miss.body);
    let expected = sha256_hex(format!(
        "{route}|GET|GET /catalog/items|header=Cache-Control:public,max-age=300|"
    ));
    assert_eq!(
        hit.header("X-Cache-Key"),
        Some(expected.as_str()),
        "route {route}"
    );
    assert!(
        !keys(&redis, &format!("*{expected}*")).is_empty(),
        "{:?}",
        keys(&redis, "*")
    );
    // Under load: the cached catalog (one filter, a Redis read per request).
    let failed = under_load(&kong, &[(url, vec![])]);
    assert!(failed.is_empty(), "{}", kong.errors());
    assert!(kong.crashes().is_empty(), "{:?}", kong.crashes());
}

/// A route with a fixed id, its path kept whole, on the service `SERVICE_ID`.
fn route(id: &str, name: &str, path: &str) -> Route {
    Route::at(path).name(name).id(id).strip_path(false)
}

fn with_service(route: Route) -> KongYml {
    KongYml::new().service_id(SERVICE_ID).route(route)
}

const SERVICE_ID: &str = "7b3c6a1e-0d6f-4a7e-9c21-3f1e5d2b8a01";
const ROUTE_ID: &str = "4f2d9c8b-1a3e-4b5f-8d7c-6e9a0b1c2d03";

#[test]
fn rate_limit_keys_are_kongs_and_the_consumer_comes_from_kong_ctx_shared() {
    if !available("keys") {
        return;
    }
    clock::wait_for_a_fresh_minute(10);
    let redis = RedisServer::start(&[]);
    let r = format!(r#"{{"host": "127.0.0.1", "port": {}}}"#, redis.port);
    let jwt = format!(r#"{{"consumers": [{}]}}"#, alice::CONSUMER);
    let by_ip = format!(r#"{{"minute": 100, "policy": "redis", "redis": {r}}}"#);
    let by_consumer =
        format!(r#"{{"minute": 100, "limit_by": "consumer", "policy": "redis", "redis": {r}}}"#);
    let consumer_route = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b05";
    let by_ip = route(ROUTE_ID, "by-ip", "/ip")
        .filter("redis-rate-limiting", &by_ip)
        .filter("redis-chain-end", "{}");
    let by_consumer = route(consumer_route, "by-consumer", "/consumer")
        .filter("redis-jwt", &jwt)
        .filter("redis-rate-limiting", &by_consumer)
        .filter("redis-chain-end", "{}");
    let yaml = with_service(by_ip).route(by_consumer).to_string();
    let kong = Kong::start(&yaml, &[&redis_allow(&redis)]);
    assert_eq!(kong.id_of("routes", "by-ip"), ROUTE_ID);

    let r = get(kong.addr, "/ip", &[]);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), kong.log());
    // Kong's rate-limiting plugin on this route: ratelimit:<route>:<no service>:<ip>:<date>:minute.
    let prefix = format!("ratelimit:{ROUTE_ID}:{EMPTY_UUID}:127.0.0.1:");
    let found = keys(&redis, "ratelimit:*");
    assert!(
        found
            .iter()
            .any(|k| k.starts_with(&prefix) && k.ends_with(":minute")),
        "no {prefix}*:minute in {found:?}"
    );

    // The consumer redis-jwt hands on, through kong.ctx.shared; a forged X-Consumer-ID is
    // neither believed nor counted.
    let bearer = format!("Bearer {}", alice::token("t-1"));
    let r = get(
        kong.addr,
        "/consumer",
        &[("authorization", &bearer), ("x-consumer-id", "mallory")],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), kong.log());
    let found = keys(&redis, "ratelimit:*");
    let alice_key = format!("ratelimit:{consumer_route}:{EMPTY_UUID}:c-alice:");
    assert!(found.iter().any(|k| k.starts_with(&alice_key)), "{found:?}");
    assert!(!found.iter().any(|k| k.contains("mallory")), "{found:?}");
    let unauthenticated = get(kong.addr, "/consumer", &[("x-consumer-id", "c-alice")]);
    assert_eq!(unauthenticated.status, 401, "{}", unauthenticated.text());
    assert!(kong.crashes().is_empty(), "{:?}", kong.crashes());
}

#[test]
fn a_config_the_schema_refuses_is_refused_by_kong_naming_the_field() {
    if !available("schema") {
        return;
    }
    let bad = route(ROUTE_ID, "bad", "/bad").filter("redis-rate-limiting", r#"{"minute": "ten"}"#);
    let yaml = with_service(bad).to_string();
    let refused = match Kong::try_start(&yaml, &[], &[]) {
        Ok(_) => panic!("Kong took a config the schema refuses"),
        Err(e) => e,
    };
    // Kong 3.9.3: "in 'filter_chains': ... in 'config': property minute validation failed:
    // wrong type: expected one of number, null, got string".
    assert!(
        refused.contains("filter_chains")
            && refused.contains("property minute validation failed: wrong type"),
        "{refused}"
    );
    eprintln!(
        "Kong refused it with: {}",
        refused
            .lines()
            .find(|l| l.contains("minute"))
            .unwrap_or_default()
    );
}

/// Kong serving alice's chains (`alice::both_forms`) on one Redis.
fn chains_kong(redis: &RedisServer) -> Kong {
    alice::put_in_redis(redis);
    Kong::start(
        &alice::both_forms(redis, 100_000_000),
        &[&redis_allow(redis)],
    )
}

/// The chains users build (alice's: a session then redis-jwt then rate limiting by consumer;
/// redis-jwt reading Redis then the blacklist; two limits), as separate filters and as one
/// redis-chain, each answering right.
#[test]
fn the_chains_users_build_answer_right_in_kong() {
    if !available("chains") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let kong = chains_kong(&redis);
    let bearer = format!("Bearer {}", alice::token("t-1"));
    for path in ["/session", "/chain/session"] {
        let cookie = alice::session_cookie(kong.addr, path);
        let r = get(kong.addr, path, &[("cookie", &cookie)]);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), kong.log());
        let found = keys(&redis, "ratelimit:*c-alice*");
        assert!(!found.is_empty(), "{path}: the session's consumer counted");
    }
    // A token revoked (its jti in the blacklist, as the guide's revoke path writes it) is refused.
    redis.cmd(&["SET", "jwt_blacklist:t-revoked", "1", "EX", "300"]);
    let revoked = format!("Bearer {}", alice::token("t-revoked"));
    for path in ["/revocable", "/chain/revocable"] {
        let r = get(kong.addr, path, &[("authorization", &bearer)]);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), kong.log());
        assert_eq!(get(kong.addr, path, &[]).status, 401, "{path}");
        let r = get(kong.addr, path, &[("authorization", &revoked)]);
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(r.json()["message"], "Token revoked", "{path}");
    }
    for path in ["/limits", "/chain/limits"] {
        let r = get(kong.addr, path, &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(r.header("X-RateLimit-Limit-Hour").is_some(), "{path}");
    }
    assert!(kong.crashes().is_empty(), "{:?}", kong.crashes());
}

/// `wrk` on each `(path, headers)` (16 connections, 3 s): the paths that lost a request (non-2xx)
/// or a worker.
fn under_load(kong: &Kong, paths: &[(&str, Vec<(&str, &str)>)]) -> Vec<String> {
    let mut failed = Vec::new();
    for (path, headers) in paths {
        let crashed = kong.crashes().len();
        let url = format!("http://{}{path}", kong.addr);
        let run = e2e_tests::wrk::wrk(&url, 16, 3, headers);
        let crashes = kong.crashes().len() - crashed;
        eprintln!(
            "Kong {path}: {} requests, {:.0} req/s, {} non-2xx, {} socket errors, {crashes} worker crashes",
            run.completed,
            e2e_tests::wrk::requests_per_second(&run),
            run.non_2xx,
            run.socket_errors
        );
        if run.completed == 0 || run.non_2xx > 0 || crashes > 0 {
            failed.push(path.to_string());
        }
    }
    failed
}

/// Alice's chains as one redis-chain each, under `wrk`: every request answered 2xx and no worker
/// lost. In Kong itself redis-chain asks Kong's `kong.*` properties only before the request's
/// first wait on Redis and keeps what its filters write after it in memory (docs/kong-engine.md,
/// item 13: asked from a call's answer, Kong's Lua runs on another request's thread).
#[test]
fn alices_chains_as_redis_chain_survive_load_in_kong() {
    alices_chains_under_load("redis-chain under load", "/chain");
}

/// The same chains as separate filters, under `wrk`. Kong 3.9.3 fails it: a filter that hands on
/// a consumer learnt from Redis, or starts after another one waited, asks Kong's `kong.*`
/// properties from a call's answer, and workers die (docs/kong-engine.md, item 13); separate
/// filters cannot know another one waited. Kong's engine alone passes the same chains
/// (`kong_engine_chains.rs`). Run it with `--ignored`.
#[test]
#[ignore = "Kong 3.9.3 runs kong.* property handlers on other requests' Lua threads: docs/kong-engine.md item 13"]
fn alices_chains_as_separate_filters_survive_load_in_kong() {
    alices_chains_under_load("separate filters under load", "");
}

/// Alice's chains at `<prefix>/limits`, `/revocable` and `/session` under `wrk`: no request lost,
/// no worker lost.
fn alices_chains_under_load(test: &str, prefix: &str) {
    if !available(test) {
        return;
    }
    let redis = RedisServer::start(&[]);
    let kong = chains_kong(&redis);
    let bearer = format!("Bearer {}", alice::token("t-1"));
    let cookie = alice::session_cookie(kong.addr, &format!("{prefix}/session"));
    let paths = [
        (format!("{prefix}/limits"), vec![]),
        (
            format!("{prefix}/revocable"),
            vec![("authorization", bearer.as_str())],
        ),
        (
            format!("{prefix}/session"),
            vec![("cookie", cookie.as_str())],
        ),
    ];
    let paths: Vec<(&str, Vec<(&str, &str)>)> =
        paths.iter().map(|(p, h)| (p.as_str(), h.clone())).collect();
    let failed = under_load(&kong, &paths);
    assert!(failed.is_empty(), "{failed:?}:\n{}", kong.errors());
}

/// The migration path: Kong's own rate-limiting plugin (`policy: redis`) on one Kong and our
/// filter on another, the same route and service ids, over one Redis: one counter, one limit.
#[test]
fn kongs_lua_rate_limiting_and_the_filter_count_one_limit() {
    if !available("mixed fleet") {
        return;
    }
    clock::wait_for_a_fresh_minute(15);
    let redis = RedisServer::start(&[]);
    let limit = 6;
    let lua_plugin = format!(
        "    plugins:\n    - name: rate-limiting\n      config: {{minute: {limit}, policy: redis, redis: {{host: 127.0.0.1, port: {}}}}}\n",
        redis.port
    );
    let config = format!(
        r#"{{"minute": {limit}, "policy": "redis", "redis": {{"host": "127.0.0.1", "port": {}}}}}"#,
        redis.port
    );
    let api = || route(ROUTE_ID, "api", "/api");
    let lua_kong = Kong::start(&with_service(api().extra(&lua_plugin)).to_string(), &[]);
    let filter = api()
        .filter("redis-rate-limiting", &config)
        .filter("redis-chain-end", "{}");
    let wasm_kong = Kong::start(&with_service(filter).to_string(), &[&redis_allow(&redis)]);
    let mut allowed = 0;
    for i in 0..(2 * limit) {
        let kong = if i % 2 == 0 { &lua_kong } else { &wasm_kong };
        let r = get(kong.addr, "/api", &[]);
        match r.status {
            200 => allowed += 1,
            429 => assert_eq!(r.json()["message"], "API rate limit exceeded"),
            other => panic!("request {i}: {other} {}\n{}", r.text(), kong.log()),
        }
        if i < limit {
            let remaining = (limit - 1 - i).to_string();
            assert_eq!(
                r.header("X-RateLimit-Remaining-Minute"),
                Some(remaining.as_str()),
                "request {i} ({}): one counter for both",
                if i % 2 == 0 { "Lua plugin" } else { "filter" }
            );
        }
    }
    assert_eq!(allowed, limit, "one limit across the fleet");
    let found = keys(&redis, "ratelimit:*");
    assert_eq!(found.len(), 1, "one key: {found:?}");
}
