//! Security cases of issue 19, on every host: what a client controls reaches Redis only inside
//! bulk strings (a claim holding CRLF and RESP is one key, never a command); the gateway's
//! public listener is no way into the tunnel, and Kong's bridge reaches only the nodes the
//! configs name; secrets (Redis password, JWT secret, session secret) appear in no response,
//! log or metric.

use e2e_tests::gateway::{all_hosts, Gateway, Host};
use e2e_tests::harness::dist_and_test_filters;
use e2e_tests::http::{get, request, Response};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::RedisServer;
use redis_filter_core::jwt::testing::sign;
use std::io::{Read, Write};
use std::time::Duration;

fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

/// RESP that would empty the database if it were read as commands.
const INJECTED: &str = "x\r\n*1\r\n$8\r\nFLUSHALL\r\n";

fn keys(redis: &RedisServer) -> u64 {
    redis.request(&["DBSIZE"]).unwrap().int().unwrap() as u64
}

/// redis-jwt then redis-jwt-blacklist (revocation at /api/logout), credentials in Redis on
/// /shared; then a route with no filter.
fn jwt_yaml(redis: &RedisServer, extra_jwt: &str) -> String {
    let port = redis.port;
    let jwt = format!(
        r#"{{"consumers": [{{"id": "c-alice", "jwt_secrets": [{{"key": "k-alice", "secret": "canary-jwt-secret"}}]}}]{extra_jwt}}}"#
    );
    let blacklist =
        format!(r#"{{"storage": "redis", "redis_port": {port}, "revoke_path": "/api/logout"}}"#);
    let in_redis = format!(r#"{{"credentials_in_redis": true, "redis": {{"port": {port}}}}}"#);
    let api = Route::at("/api").name("api").strip_path(false);
    let api = api
        .filter("redis-jwt", &jwt)
        .filter("redis-jwt-blacklist", &blacklist)
        .filter("redis-chain-end", "");
    let shared = Route::at("/shared").name("shared").strip_path(false);
    KongYml::new()
        .route(api)
        .route(shared.filter("redis-jwt", &in_redis))
        .route(Route::at("/plain").name("plain"))
        .to_string()
}

/// A `jti` and an `iss` holding CRLF and RESP: the blacklist's EXISTS and SET and redis-jwt's
/// GET each carry them as one key; nothing else runs, the other keys stay.
#[test]
fn crlf_and_resp_in_a_claim_stay_inside_one_key() {
    let dir = dist_and_test_filters();
    for host in all_hosts("crlf_and_resp_in_a_claim_stay_inside_one_key") {
        let redis = RedisServer::start(&[]);
        redis.request(&["SET", "canary", "1"]).unwrap();
        let gw = Gateway::start(host, &jwt_yaml(&redis, ""), &dir.0);
        let claims = format!(
            r#"{{"iss":"k-alice","exp":{},"jti":"x\r\n*1\r\n$8\r\nFLUSHALL\r\n"}}"#,
            in_an_hour()
        );
        let token = sign("HS256", &claims, b"canary-jwt-secret");
        let bearer = format!("Bearer {token}");
        let auth = [("authorization", bearer.as_str())];
        assert_eq!(get(gw.addr(), "/api", &auth).status, 200, "{host:?}");
        let out = request(gw.addr(), "POST", "/api/logout", &auth, b"");
        assert_eq!(out.status, 200, "{host:?}: {}", out.text());
        let key = format!("jwt_blacklist:{INJECTED}");
        assert_eq!(redis.request(&["EXISTS", &key]).unwrap().int(), Some(1));
        assert_eq!(get(gw.addr(), "/api", &auth).status, 401, "{host:?}");
        // The issuer names the credential looked up in Redis.
        let forged = sign(
            "HS256",
            &format!(
                r#"{{"iss":"{}","exp":{}}}"#,
                INJECTED.escape_default(),
                in_an_hour()
            ),
            b"s",
        );
        let r = get(
            gw.addr(),
            "/shared",
            &[("authorization", &format!("Bearer {forged}"))],
        );
        assert_eq!(r.status, 401, "{host:?}: {}", r.text());
        assert_eq!(
            redis.request(&["GET", "canary"]).unwrap().text().as_deref(),
            Some("1")
        );
        assert_eq!(
            keys(&redis),
            2,
            "{host:?}: only the canary and the revoked token"
        );
    }
}

/// One raw request on a fresh connection: the status line's code, or 0 when the connection
/// closed without one.
fn raw_status(gw: &Gateway, raw: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A client that names Redis as the host, or asks to CONNECT to it, through the public listener
/// reaches the upstream or a refusal, never Redis.
#[test]
fn the_public_listener_is_no_way_into_the_tunnel() {
    let dir = dist_and_test_filters();
    for host in all_hosts("the_public_listener_is_no_way_into_the_tunnel") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &jwt_yaml(&redis, ""), &dir.0);
        let connections = || redis.info_field("stats", "total_connections_received");
        let before = connections();
        let node = format!("127.0.0.1:{}", redis.port);
        let pipeline = "*1\r\n$8\r\nFLUSHALL\r\n*1\r\n$4\r\nQUIT\r\n";
        let post = format!(
            "POST /plain HTTP/1.1\r\nhost: {node}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{pipeline}",
            pipeline.len()
        );
        let posted = raw_status(&gw, &post);
        assert!(posted == 200 || posted >= 400, "{host:?}: {posted}");
        let connect = format!("CONNECT {node} HTTP/1.1\r\nhost: {node}\r\n\r\n");
        let connected = raw_status(&gw, &connect);
        assert_ne!(connected, 200, "{host:?}: CONNECT to Redis was accepted");
        let tunnel = "POST / HTTP/1.1\r\nhost: redis_tunnel\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let named = raw_status(&gw, tunnel);
        assert!(
            named == 404 || named >= 400 || named == 0,
            "{host:?}: {named}"
        );
        // Only the test's own INFO connections reached Redis.
        let after = connections();
        let (before, after): (u64, u64) = (
            before.unwrap().parse().unwrap(),
            after.unwrap().parse().unwrap(),
        );
        assert_eq!(
            after,
            before + 1,
            "{host:?}: a client's request reached Redis"
        );
    }
}

/// Kong's bridge (its unix socket, which only the engine's workers use) answers 403 for a node
/// no config names, and serves the one that is named.
#[test]
fn the_kong_bridge_reaches_only_the_nodes_the_configs_name() {
    if !e2e_tests::kong::available("the_kong_bridge_reaches_only_the_nodes_the_configs_name") {
        return;
    }
    let dir = dist_and_test_filters();
    let redis = RedisServer::start(&[]);
    let other = RedisServer::start(&[]);
    let gw = e2e_tests::kong::KongGateway::start(&jwt_yaml(&redis, ""), &dir.0, 1);
    let socket = gw.dir.0.join("bridge.sock");
    let call = |node: &str| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n";
        write!(
            s,
            "POST / HTTP/1.1\r\nhost: {node}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let named = call(&format!("127.0.0.1:{}", redis.port));
    assert!(named.starts_with("HTTP/1.1 200"), "{named}");
    assert!(named.contains("+PONG"), "{named}");
    for node in [
        format!("127.0.0.1:{}", other.port),
        "127.0.0.1:22".into(),
        "example.com:6379".into(),
    ] {
        let refused = call(&node);
        assert!(refused.starts_with("HTTP/1.1 403"), "{node}: {refused}");
    }
}

/// Redis' password (wrong, so that every call fails), the JWT secret and the session secret:
/// in no body or header the client gets, in no log line, in no metric.
#[test]
fn secrets_appear_in_no_response_log_or_metric() {
    let dir = dist_and_test_filters();
    for host in all_hosts("secrets_appear_in_no_response_log_or_metric") {
        let redis = RedisServer::start(&["requirepass the-real-password"])
            .with_password("the-real-password");
        let port = redis.port;
        let yaml = jwt_yaml(&redis, "")
            + &format!(
                r#"  - name: limited
    paths: [/limited]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {{"minute": 5, "policy": "redis", "fault_tolerant": false, "redis": {{"port": {port}, "password": "canary-redis-password"}}}}
  - name: session
    paths: [/session]
    filter_chains:
    - filters:
      - name: consumer-stub
        config: {{"keys": {{"k": {{"id": "c-1"}}}}}}
      - name: redis-session
        config: {{"storage": "redis", "secret": "canary-session-secret", "redis": {{"port": {port}, "password": "canary-redis-password"}}}}
      - name: redis-chain-end
"#
            );
        let gw = Gateway::start(host, &yaml, &dir.0);
        let mut seen: Vec<Response> = Vec::new();
        seen.push(get(gw.addr(), "/limited", &[]));
        seen.push(get(gw.addr(), "/session", &[("apikey", "k")]));
        seen.push(get(
            gw.addr(),
            "/session",
            &[("cookie", "session=forged.value")],
        ));
        let wrong = sign("HS256", r#"{"iss":"k-alice"}"#, b"not-the-secret");
        seen.push(get(
            gw.addr(),
            "/api",
            &[("authorization", &format!("Bearer {wrong}"))],
        ));
        seen.push(get(gw.addr(), "/api", &[("authorization", "Bearer a.b.c")]));
        assert_eq!(seen[0].status, 500, "{host:?}: {}", seen[0].text());
        let mut exposed = String::new();
        for r in &seen {
            exposed.push_str(&format!("{:?}{}", r.headers, r.text()));
        }
        exposed.push_str(&gw.log());
        exposed.push_str(&match &gw {
            Gateway::Harness(g) => g.metrics().to_string(),
            Gateway::Envoy(g) => get(g.admin, "/stats", &[]).text(),
            Gateway::Kong(_) => String::new(),
        });
        if host != Host::Harness {
            assert!(
                gw.log().contains("WRONGPASS") || gw.log().contains("redis"),
                "{host:?}: the Redis failure was logged: {}",
                gw.log()
            );
        }
        for secret in [
            "canary-redis-password",
            "canary-jwt-secret",
            "canary-session-secret",
        ] {
            assert!(
                !exposed.contains(secret),
                "{host:?}: {secret} exposed:\n{exposed}"
            );
        }
    }
}
