//! `redis-chain` on every host: users' chains as one filter answer as the same filters one after
//! another do (statuses, bodies, rate-limit headers, the consumer), and where the filters'
//! Redis work does not depend on one another it takes one round trip where the separate filters
//! take one each.

use e2e_tests::alice;
use e2e_tests::gateway::{all_hosts, Gateway, Host};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, Response};
use e2e_tests::{eventually_ok, RedisServer};

/// What a client sees of an answer that the chain must reproduce: the status, the body, and
/// the rate-limit and consumer headers.
fn seen(r: &Response) -> (u16, String, Vec<(String, String)>) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| {
            k.contains("ratelimit") || k == "retry-after" || k.starts_with("x-consumer")
        })
        .filter(|(k, _)| k != "ratelimit-reset" && k != "retry-after")
        .collect();
    headers.sort();
    // The upstream echoes the request's headers: the consumer's are what it was sent.
    let body = if r.status == 200 {
        r.json()["headers"]["x-consumer-id"].to_string()
    } else {
        // Kong's error body names the request (`request_id`), which differs by nature.
        let mut body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.remove("request_id");
        }
        body.to_string()
    };
    (r.status, body, headers)
}

fn bearer(jti: &str) -> String {
    format!("Bearer {}", alice::token(jti))
}

#[test]
fn a_chain_answers_as_its_filters_one_after_another() {
    for host in all_hosts("a_chain_answers_as_its_filters_one_after_another") {
        let redis = RedisServer::start(&[]);
        alice::put_in_redis(&redis);
        let mut routes = alice::both_forms_routes(&redis, 2);
        let jwt = format!(
            r#"{{"anonymous": "anonymous", "consumers": [{}]}}"#,
            alice::CONSUMER
        );
        let cache = format!(
            r#"{{"strategy": "redis", "redis": {{"port": {}}}, "content_type": ["application/json"], "cache_authorized_requests": true}}"#,
            redis.port
        );
        let cached = [("redis-jwt", jwt), ("redis-proxy-cache", cache)];
        routes.push(("/chain/cached".into(), alice::as_chain(&cached)));
        let gw = Gateway::start(host, &alice::yaml(&routes), &dist_dir());
        // Two limits: the minute's third request is refused, by the same filter with the
        // same headers, and the hour counts what it would have counted. (Both forms may count
        // under one key where the host names no route: Redis is emptied between them.)
        let three =
            |path: &str| -> Vec<_> { (0..3).map(|_| seen(&get(gw.addr(), path, &[]))).collect() };
        let apart = three("/limits");
        redis.cmd(&["FLUSHALL"]);
        let chained = three("/chain/limits");
        assert_eq!(apart[2].0, 429, "{host:?}");
        if host == Host::Envoy {
            assert_eq!(chained, apart, "{host:?}\n{}", gw.log());
        } else {
            // Kong's engine (and the harness' kong profile) runs the filters after a local
            // response sent from a call's answer (docs/kong-engine.md, item 12): apart, the
            // hour counts the refused request. redis-chain ends the rest, as Kong's plugins do.
            assert_eq!(chained[..2], apart[..2], "{host:?}\n{}", gw.log());
            let hour = |seen: &(u16, String, Vec<(String, String)>)| {
                seen.2
                    .iter()
                    .any(|(k, _)| k == "x-ratelimit-remaining-hour")
            };
            assert!(hour(&apart[2]), "{host:?}: the engine's rule: {apart:?}");
            assert_eq!(chained[2].0, 429, "{host:?}");
            assert_eq!(chained[2].1, apart[2].1, "{host:?}");
            assert!(!hour(&chained[2]), "{host:?}: {chained:?}");
        }
        alice::put_in_redis(&redis);
        // The credential lookup and the blacklist: a good token, a revoked one, an unknown key.
        redis.cmd(&["SET", "jwt_blacklist:t-revoked", "1"]);
        let unknown = format!(
            "Bearer {}",
            redis_filter_core::jwt::testing::sign("HS256", r#"{"iss":"k-nobody"}"#, b"x")
        );
        for (token, status) in [
            (bearer("t-1"), 200),
            (bearer("t-revoked"), 401),
            (unknown, 401),
        ] {
            let auth = [("Authorization", token.as_str())];
            let apart = seen(&get(gw.addr(), "/revocable", &auth));
            let chained = seen(&get(gw.addr(), "/chain/revocable", &auth));
            assert_eq!(apart.0, status, "{host:?}: {apart:?}");
            assert_eq!(chained, apart, "{host:?}\n{}", gw.log());
        }
        // The session chain: a token logs alice in, then her cookie alone is alice, counted
        // as hers.
        let cookie = alice::session_cookie(gw.addr(), "/chain/session");
        let r = get(gw.addr(), "/chain/session", &[("Cookie", &cookie)]);
        assert!(r.header("x-ratelimit-limit-hour").is_some(), "{host:?}");
        let apart = seen(&get(gw.addr(), "/session", &[("Cookie", &cookie)]));
        assert_eq!(apart.1, "\"c-alice\"", "{host:?}");
        // An authentication then the cache: a Miss, then the same bytes from Redis (in Kong's
        // engine without the newline it adds to a local body).
        let auth = [("Authorization", bearer("t-1"))];
        let auth = [(auth[0].0, auth[0].1.as_str())];
        let first = get(gw.addr(), "/chain/cached?p=1", &auth);
        assert_eq!(
            first.header("x-cache-status"),
            Some("Miss"),
            "{host:?}: {}",
            gw.log()
        );
        let hit = eventually_ok(
            &format!("{host:?}: a Hit"),
            std::time::Duration::from_secs(5),
            || {
                let r = get(gw.addr(), "/chain/cached?p=1", &auth);
                match r.header("x-cache-status") {
                    Some("Hit") => Ok(r),
                    _ => Err(format!("{:?}", r.headers)),
                }
            },
        );
        assert_eq!(hit.body, first.body, "{host:?}");
        let length = hit.body.len().to_string();
        assert_eq!(
            hit.header("content-length"),
            Some(length.as_str()),
            "{host:?}"
        );
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// Tunnel calls that `n` requests to `path` with `header` took, one at a time.
fn calls_for(gw: &Gateway, path: &str, header: (&str, &str), n: u64) -> u64 {
    let before = gw.tunnel_calls().unwrap_or(0);
    for _ in 0..n {
        let r = get(gw.addr(), path, &[header]);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    gw.tunnel_calls().unwrap_or(0) - before
}

#[test]
fn independent_lookups_take_one_round_trip_together() {
    for host in [Host::Harness, Host::Envoy] {
        let redis = RedisServer::start(&[]);
        alice::put_in_redis(&redis);
        // A session, an authentication that lets anonymous requests through, a limit by
        // address: the session's read and the count leave together.
        let mut by_address = alice::chains(&redis, 1000).remove(0).1;
        by_address[2].1 = format!(
            r#"{{"hour": 100000000, "limit_by": "ip", "policy": "redis", "redis": {{"port": {}}}}}"#,
            redis.port
        );
        let mut routes = alice::both_forms_routes(&redis, 1000);
        let mut apart = by_address.clone();
        apart.push(("redis-chain-end", "{}".into()));
        routes.push(("/by-address".to_string(), apart));
        routes.push((
            "/chain/by-address".to_string(),
            alice::as_chain(&by_address),
        ));
        let gw = Gateway::start(host, &alice::yaml(&routes), &dist_dir());
        let token = bearer("t-1");
        let auth = ("Authorization", token.as_str());
        let apart = calls_for(&gw, "/revocable", auth, 10);
        let chained = calls_for(&gw, "/chain/revocable", auth, 10);
        eprintln!("{host:?}: 10 requests, {apart} calls as two filters, {chained} as redis-chain");
        assert_eq!(apart, 20, "{host:?}: a GET and an EXISTS each");
        assert_eq!(chained, 10, "{host:?}: both in one pipeline");
        let cookie = alice::session_cookie(gw.addr(), "/chain/by-address");
        let session = ("Cookie", cookie.as_str());
        let apart = calls_for(&gw, "/by-address", session, 10);
        let chained = calls_for(&gw, "/chain/by-address", session, 10);
        eprintln!(
            "{host:?}: 10 requests, {apart} calls as three filters, {chained} as redis-chain"
        );
        assert_eq!(apart, 20, "{host:?}: the session's read, then the count");
        assert_eq!(chained, 10, "{host:?}: both in one pipeline");
    }
}
