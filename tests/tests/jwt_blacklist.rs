//! redis-jwt-blacklist behind redis-jwt, the integration guide's Scenario 2 (`key_claim_name:
//! kid`, `storage: redis`), on every host: a token revoked through gateway A is refused by
//! gateway B on the next request, its key expiring with the token; an operator revokes by `jti`;
//! Redis down fails closed.

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, request};
use e2e_tests::RedisServer;
use redis_filter_core::jwt::testing::sign;
use std::time::{SystemTime, UNIX_EPOCH};

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
- name: authentication
  url: http://{{echo}}
  routes:
  - name: api
    paths: [/api]
    strip_path: false
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {{"secret_is_base64": false, "key_claim_name": "kid", "consumers": [{{"id": "c-alice", "username": "alice", "jwt_secrets": [{{"key": "k-alice", "secret": "alice-secret"}}]}}]}}
      - name: redis-jwt-blacklist
        config: {{"storage": "redis", "redis_host": "127.0.0.1", "redis_port": {port}, "revoke_path": "/api/logout"}}
  - name: admin
    paths: [/admin]
    strip_path: false
    filter_chains:
    - filters:
      - name: redis-jwt-blacklist
        config: {{"storage": "redis", "redis_port": {port}, "admin_path": "/admin/revoked", "admin_secret": "an-operator-secret"}}
"#,
        port = redis.port
    )
}

#[test]
fn a_token_revoked_on_one_node_is_refused_on_the_other() {
    for host in all_hosts("a_token_revoked_on_one_node_is_refused_on_the_other") {
        let redis = RedisServer::start(&[]);
        let a = Gateway::start(host, &yaml(&redis), &dist_dir());
        let b = Gateway::start(host, &yaml(&redis), &dist_dir());
        let exp = now() + 300;
        let token = sign(
            "HS256",
            &format!(r#"{{"kid":"k-alice","exp":{exp},"jti":"t-1"}}"#),
            b"alice-secret",
        );
        let bearer = format!("Bearer {token}");
        let auth = [("authorization", bearer.as_str())];
        assert_eq!(
            get(b.addr(), "/api", &auth).status,
            200,
            "{host:?}: {}",
            b.log()
        );
        // The client revokes its own token through A.
        let out = request(a.addr(), "POST", "/api/logout", &auth, b"");
        assert_eq!(out.status, 200, "{host:?}: {}", out.text());
        assert_eq!(
            out.json()["message"],
            "Token revoked",
            "{host:?}: {}",
            out.text()
        );
        let refused = get(b.addr(), "/api", &auth);
        assert_eq!(refused.status, 401, "{host:?}");
        assert_eq!(refused.json()["message"], "Token revoked");
        let ttl = redis
            .request(&["TTL", "jwt_blacklist:t-1"])
            .unwrap()
            .int()
            .unwrap();
        assert!(
            (290..=300).contains(&ttl),
            "{host:?}: the key expires with the token: {ttl}"
        );
        // An operator revokes another token by its jti, through B (an admin route with the
        // blacklist alone); A refuses it.
        let other = sign(
            "HS256",
            &format!(r#"{{"kid":"k-alice","exp":{exp},"jti":"t-2"}}"#),
            b"alice-secret",
        );
        let other_auth = format!("Bearer {other}");
        assert_eq!(
            get(a.addr(), "/api", &[("authorization", &other_auth)]).status,
            200
        );
        let wrong = request(
            b.addr(),
            "POST",
            "/admin/revoked/t-2",
            &[("x-blacklist-secret", "nope")],
            b"",
        );
        assert_eq!(wrong.status, 401, "{host:?}");
        let ok = request(
            b.addr(),
            "POST",
            "/admin/revoked/t-2",
            &[("x-blacklist-secret", "an-operator-secret")],
            b"",
        );
        assert_eq!(ok.status, 200, "{host:?}: {}", ok.text());
        assert_eq!(
            get(a.addr(), "/api", &[("authorization", &other_auth)]).status,
            401
        );
        // Revocation needs a token redis-jwt accepted.
        let forged = sign("HS256", r#"{"kid":"k-alice","jti":"t-3"}"#, b"guess");
        let r = request(
            a.addr(),
            "POST",
            "/api/logout",
            &[("authorization", &format!("Bearer {forged}"))],
            b"",
        );
        assert_eq!(r.status, 401, "{host:?}");
        // Redis down: fail closed.
        redis.kill();
        let fresh = sign(
            "HS256",
            &format!(r#"{{"kid":"k-alice","exp":{exp},"jti":"t-4"}}"#),
            b"alice-secret",
        );
        let r = get(
            a.addr(),
            "/api",
            &[("authorization", &format!("Bearer {fresh}"))],
        );
        assert_eq!(r.status, 503, "{host:?}: {}", r.text());
        assert!(a.crashes().is_empty() && b.crashes().is_empty(), "{host:?}");
    }
}
