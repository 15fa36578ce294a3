//! redis-jwt end to end, on every host: Kong's token lookup, checks, 401s and upstream headers;
//! a client's own consumer headers never reach the upstream; and with redis-session after it,
//! the consumer it authenticated gets a session (the hand-off between them).

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, Response};
use e2e_tests::RedisServer;
use redis_filter_core::base64::b64url as b64;
use redis_filter_core::hmac::{hmac, Sha};
use std::time::{SystemTime, UNIX_EPOCH};

/// An HS256 token with `claims`, signed with `secret`.
fn token(claims: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.as_bytes())
    );
    format!(
        "{input}.{}",
        b64(&hmac(Sha::S256, secret, input.as_bytes()))
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn yaml(redis: &RedisServer) -> String {
    format!(
        r#"
_format_version: "3.0"
services:
- name: echo
  url: http://{{echo}}
  routes:
  - name: api
    paths: [/api]
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {{"claims_to_verify": ["exp"], "consumers": [{{"id": "c-alice", "username": "alice", "jwt_secrets": [{{"key": "k-alice", "secret": "alice-secret"}}]}}]}}
  - name: shop
    paths: [/shop]
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {{"anonymous": "anonymous", "consumers": [{{"id": "c-alice", "username": "alice", "jwt_secrets": [{{"key": "k-alice", "secret": "alice-secret"}}]}}, {{"id": "c-anon", "username": "anonymous"}}]}}
      - name: redis-session
        config: {{"storage": "redis", "redis_port": {}, "cookie_name": "kong_session", "secret": "shared"}}
"#,
        redis.port
    )
}

fn upstream(r: &Response, header: &str) -> Option<String> {
    r.json()["headers"][header].as_str().map(str::to_string)
}

#[test]
fn tokens_are_checked_as_kong_does_and_the_consumer_reaches_the_session() {
    for host in all_hosts("tokens_are_checked_as_kong_does_and_the_consumer_reaches_the_session") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &yaml(&redis), &dist_dir());
        let good = token(
            &format!(r#"{{"iss":"k-alice","exp":{}}}"#, now() + 300),
            b"alice-secret",
        );
        let bearer = format!("Bearer {good}");
        let r = get(
            gw.addr(),
            "/api",
            &[
                ("authorization", &bearer),
                ("x-consumer-username", "mallory"),
            ],
        );
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        assert_eq!(
            upstream(&r, "x-consumer-id").as_deref(),
            Some("c-alice"),
            "{host:?}"
        );
        assert_eq!(
            upstream(&r, "x-consumer-username").as_deref(),
            Some("alice"),
            "{host:?}"
        );
        assert_eq!(
            upstream(&r, "x-credential-identifier").as_deref(),
            Some("k-alice")
        );
        // The same token as a query arg; a second, different one: Kong's refusal.
        assert_eq!(
            get(gw.addr(), &format!("/api?jwt={good}"), &[]).status,
            200,
            "{host:?}"
        );
        let other = token(
            &format!(r#"{{"iss":"k-alice","exp":{}}}"#, now() + 200),
            b"alice-secret",
        );
        let both = get(
            gw.addr(),
            &format!("/api?jwt={other}"),
            &[("authorization", &bearer)],
        );
        assert_eq!(both.status, 401, "{host:?}");
        assert_eq!(both.json()["message"], "Multiple tokens provided");
        let cases = [
            (None, "Bearer", r#"{"message":"Unauthorized"}"#),
            (
                Some(token(
                    &format!(r#"{{"iss":"k-alice","exp":{}}}"#, now() - 10),
                    b"alice-secret",
                )),
                "Bearer error=\"invalid_token\"",
                r#"{"exp":"token expired"}"#,
            ),
            (
                Some(token(
                    &format!(r#"{{"iss":"k-alice","exp":{}}}"#, now() + 300),
                    b"guess",
                )),
                "Bearer error=\"invalid_token\"",
                r#"{"message":"Invalid signature"}"#,
            ),
            (
                Some(format!(
                    "{}.{}.",
                    b64(br#"{"alg":"none"}"#),
                    b64(br#"{"iss":"k-alice"}"#)
                )),
                "Bearer error=\"invalid_token\"",
                r#"{"message":"Bad token; invalid alg"}"#,
            ),
        ];
        for (t, www, body) in cases {
            let bearer = t.map(|t| format!("Bearer {t}")).unwrap_or_default();
            let headers: Vec<(&str, &str)> = if bearer.is_empty() {
                vec![("x-consumer-id", "c-alice")]
            } else {
                vec![("authorization", &bearer)]
            };
            let r = get(gw.addr(), "/api", &headers);
            assert_eq!(r.status, 401, "{host:?}: {body}");
            assert_eq!(r.header("www-authenticate"), Some(www), "{host:?}");
            let want: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(r.json(), want, "{host:?}");
        }
        // jwt then session: the token's consumer gets a session; anonymous does not.
        let login = get(gw.addr(), "/shop", &[("authorization", &bearer)]);
        let cookie = login
            .headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kong_session="))
            .map(|(_, v)| v.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("{host:?}: no session: {:?}", login.headers));
        let anon = get(gw.addr(), "/shop", &[("x-consumer-id", "c-alice")]);
        assert_eq!(
            upstream(&anon, "x-consumer-id").as_deref(),
            Some("c-anon"),
            "{host:?}"
        );
        assert!(
            anon.header("set-cookie").is_none(),
            "{host:?}: anonymous gets no session"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let r = get(gw.addr(), "/shop", &[("cookie", &cookie)]);
            if upstream(&r, "x-consumer-id").as_deref() == Some("c-alice") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{host:?}: {}",
                r.text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}
