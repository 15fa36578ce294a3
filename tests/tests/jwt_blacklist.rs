//! redis-jwt-blacklist behind redis-jwt, the integration guide's Scenario 2 (`key_claim_name:
//! kid`, `storage: redis`), on every host: a token revoked through gateway A is refused by
//! gateway B on the next request, its key expiring with the token; an operator revokes by `jti`;
//! Redis down fails closed.

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, request};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::{eventually, RedisServer, RedisVersion};
use redis_filter_core::jwt::testing::sign;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `/api` route: redis-jwt then redis-jwt-blacklist, with these configs.
fn api_route(jwt: &str, blacklist: &str) -> String {
    let api = Route::at("/api").name("api").strip_path(false);
    let api = api
        .filter("redis-jwt", jwt)
        .filter("redis-jwt-blacklist", blacklist)
        .filter("redis-chain-end", "");
    KongYml::new().route(api).to_string()
}

/// Alice's token (the one credential here) with this `jti`.
fn alice(jti: &str, exp: u64) -> String {
    let claims = format!(r#"{{"kid":"k-alice","exp":{exp},"jti":"{jti}"}}"#);
    sign("HS256", &claims, b"alice-secret")
}

fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> e2e_tests::http::Response {
    request(addr, "POST", path, headers, b"")
}

fn yaml(redis: &RedisServer) -> String {
    let jwt = r#"{"secret_is_base64": false, "key_claim_name": "kid", "consumers": [{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}]}"#;
    let blacklist = format!(
        r#"{{"storage": "redis", "redis_host": "127.0.0.1", "redis_port": {}, "revoke_path": "/api/logout"}}"#,
        redis.port
    );
    // /first: the blacklist before redis-jwt (the order reversed).
    let first = format!(
        r#"  - name: first
    paths: [/first]
    strip_path: false
    filter_chains:
    - filters:
      - name: redis-jwt-blacklist
        config: {}
      - name: redis-jwt
        config: {jwt}
"#,
        blacklist.replace("/api/logout", "/first/logout")
    );
    api_route(jwt, &blacklist)
        + &first
        + &format!(
            r#"  - name: admin
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
    let test = "a_token_revoked_on_one_node_is_refused_on_the_other";
    for (host, version) in RedisVersion::pairs(all_hosts(test), test) {
        eprintln!("{test}: {host:?}, Redis {version:?}");
        let redis = version.start(&[]);
        let a = Gateway::start(host, &yaml(&redis), &dist_dir());
        let b = Gateway::start(host, &yaml(&redis), &dist_dir());
        let exp = now() + 300;
        let token = alice("t-1", exp);
        let bearer = format!("Bearer {token}");
        let auth = [("authorization", bearer.as_str())];
        assert_eq!(
            get(b.addr(), "/api", &auth).status,
            200,
            "{host:?}: {}",
            b.log()
        );
        // The client revokes its own token through A.
        let out = post(a.addr(), "/api/logout", &auth);
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
        let other = alice("t-2", exp);
        let other_auth = format!("Bearer {other}");
        assert_eq!(
            get(a.addr(), "/api", &[("authorization", &other_auth)]).status,
            200
        );
        let wrong = post(
            b.addr(),
            "/admin/revoked/t-2",
            &[("x-blacklist-secret", "nope")],
        );
        assert_eq!(wrong.status, 401, "{host:?}");
        let ok = post(
            b.addr(),
            "/admin/revoked/t-2",
            &[("x-blacklist-secret", "an-operator-secret")],
        );
        assert_eq!(ok.status, 200, "{host:?}: {}", ok.text());
        assert_eq!(
            get(a.addr(), "/api", &[("authorization", &other_auth)]).status,
            401
        );
        // Revocation needs a token redis-jwt accepted.
        let forged = sign("HS256", r#"{"kid":"k-alice","jti":"t-3"}"#, b"guess");
        let r = post(
            a.addr(),
            "/api/logout",
            &[("authorization", &format!("Bearer {forged}"))],
        );
        assert_eq!(r.status, 401, "{host:?}");
        assert_eq!(
            redis
                .request(&["EXISTS", "jwt_blacklist:t-3"])
                .unwrap()
                .int(),
            Some(0)
        );
        // The order reversed: the revocation goes on to redis-jwt and the upstream, and is
        // made as the response passes (Kong's engine sends it on the root's next tick).
        let t5 = alice("t-5", exp);
        let auth5 = format!("Bearer {t5}");
        assert_eq!(
            get(b.addr(), "/first", &[("authorization", &auth5)]).status,
            200
        );
        let r = post(a.addr(), "/first/logout", &[("authorization", &auth5)]);
        assert_eq!(
            r.status,
            200,
            "{host:?}: the upstream's answer: {}",
            r.text()
        );
        eventually(
            &format!("{host:?}: the token revoked"),
            std::time::Duration::from_secs(5),
            || get(b.addr(), "/first", &[("authorization", &auth5)]).status == 401,
        );
        let r = get(b.addr(), "/api", &[("authorization", &auth5)]);
        assert_eq!(r.json()["message"], "Token revoked", "{host:?}");
        let r = post(
            a.addr(),
            "/first/logout",
            &[("authorization", &format!("Bearer {forged}"))],
        );
        assert_eq!(
            r.status, 401,
            "{host:?}: redis-jwt refuses the forged token"
        );
        // A revocation made in the response phase lands after the answer: one accepted after
        // the forged one has landed, so the forged one's would have too.
        let t6 = alice("t-6", exp);
        let r = post(
            a.addr(),
            "/first/logout",
            &[("authorization", &format!("Bearer {t6}"))],
        );
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        let revoked = |jti: &str| {
            let key = format!("jwt_blacklist:{jti}");
            redis.request(&["EXISTS", &key]).unwrap().int() == Some(1)
        };
        eventually(
            &format!("{host:?}: t-6 revoked"),
            std::time::Duration::from_secs(5),
            || revoked("t-6"),
        );
        assert!(
            !revoked("t-3"),
            "{host:?}: the forged token revoked nothing"
        );
        // Redis down: fail closed.
        redis.kill();
        let fresh = alice("t-4", exp);
        let r = get(
            a.addr(),
            "/api",
            &[("authorization", &format!("Bearer {fresh}"))],
        );
        assert_eq!(r.status, 503, "{host:?}: {}", r.text());
        assert!(a.crashes().is_empty() && b.crashes().is_empty(), "{host:?}");
    }
}

/// Both filters on a Redis Cluster: credentials written through any node (the `credentials`
/// command follows MOVED) and revocations made through gateway A live on their slot's master,
/// and gateway B sees both.
#[test]
fn on_a_cluster_credentials_and_revocations_live_on_their_slots_master() {
    use e2e_tests::cluster::RedisCluster;
    use redis_filters::credentials::{self, Action, Redis};
    for host in all_hosts("on_a_cluster_credentials_and_revocations_live_on_their_slots_master") {
        let cluster = RedisCluster::start(3, 0);
        let nodes =
            serde_json::json!({"cluster_nodes": [{"ip": "127.0.0.1", "port": cluster.seed()}]});
        let jwt = serde_json::json!({"credentials_in_redis": true, "redis": nodes});
        let blacklist =
            serde_json::json!({"storage": "redis", "redis": nodes, "revoke_path": "/api/logout"});
        let yaml = api_route(&jwt.to_string(), &blacklist.to_string());
        let a = Gateway::start(host, &yaml, &dist_dir());
        let b = Gateway::start(host, &yaml, &dist_dir());
        let seed = format!("127.0.0.1:{}", cluster.seed());
        let mut admin = Redis::connect(&seed, None, None).unwrap();
        let exp = now() + 300;
        for i in 1..=4 {
            let key = format!("k-{i}");
            let put = Action::Put {
                consumer: serde_json::json!({"id": format!("c-{i}")}),
                secret: serde_json::json!({"secret": format!("secret-{i}")}),
            };
            credentials::run(&mut admin, credentials::DEFAULT_PREFIX, &key, put).unwrap();
            let redis_key = format!("{}{key}", credentials::DEFAULT_PREFIX);
            let owner = cluster.master_for_slot(cluster.key_slot(&redis_key));
            let stored = cluster.cmd_on(owner, &["EXISTS", &redis_key]);
            assert_eq!(stored.int(), Some(1), "{host:?}: {redis_key} on its master");
            let claims = format!(r#"{{"iss":"{key}","exp":{exp},"jti":"j-{i}"}}"#);
            let token = sign("HS256", &claims, format!("secret-{i}").as_bytes());
            let auth = [("authorization", format!("Bearer {token}"))];
            let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = get(b.addr(), "/api", &auth);
            assert_eq!(r.status, 200, "{host:?}: {}", r.text());
            let out = post(a.addr(), "/api/logout", &auth);
            assert_eq!(out.status, 200, "{host:?}: {}", out.text());
            let refused = get(b.addr(), "/api", &auth);
            assert_eq!(refused.json()["message"], "Token revoked", "{host:?}");
            let revoked = format!("jwt_blacklist:j-{i}");
            let owner = cluster.master_for_slot(cluster.key_slot(&revoked));
            assert_eq!(cluster.cmd_on(owner, &["EXISTS", &revoked]).int(), Some(1));
        }
        for gw in [&a, &b] {
            assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
        }
    }
}
