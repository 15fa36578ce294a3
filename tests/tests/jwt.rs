//! redis-jwt end to end, on every host: Kong's token lookup, checks, 401s and upstream headers;
//! a client's own consumer headers never reach the upstream; and with redis-session after it,
//! the consumer it authenticated gets a session (the hand-off between them).

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, Response};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::{clock, eventually};
use e2e_tests::{RedisServer, RedisVersion};
use redis_filter_core::base64::b64url as b64;
use redis_filter_core::hmac::{hmac, Sha};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let alice = r#"{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}"#;
    let api = format!(r#"{{"claims_to_verify": ["exp"], "consumers": [{alice}]}}"#);
    let shop = format!(
        r#"{{"anonymous": "anonymous", "consumers": [{alice}, {{"id": "c-anon", "username": "anonymous"}}]}}"#
    );
    let session = format!(
        r#"{{"storage": "redis", "redis_port": {}, "cookie_name": "kong_session", "secret": "shared"}}"#,
        redis.port
    );
    let shop = Route::at("/shop")
        .name("shop")
        .filter("redis-jwt", &shop)
        .filter("redis-session", &session)
        .filter("redis-chain-end", "");
    KongYml::new()
        .route(Route::at("/api").name("api").filter("redis-jwt", &api))
        .route(shop)
        .to_string()
}

/// The `/api` route with redis-jwt alone, configured with `config`.
fn api_with_jwt(config: &serde_json::Value) -> String {
    let api = Route::at("/api").name("api");
    KongYml::new()
        .route(api.filter("redis-jwt", &config.to_string()))
        .to_string()
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
        eventually(
            &format!("{host:?}: the session cookie authenticates"),
            Duration::from_secs(5),
            || {
                let r = get(gw.addr(), "/shop", &[("cookie", &cookie)]);
                upstream(&r, "x-consumer-id").as_deref() == Some("c-alice")
            },
        );
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// Public-key algorithms through the built filter, and the attacks a gateway must refuse.
#[test]
fn public_key_algorithms_and_attacks() {
    use redis_jwt::public_key::testing::sign;
    let algorithms = ["RS256", "PS384", "ES256", "ES384", "ES512", "EdDSA"];
    let signed: Vec<(&str, String, String)> = algorithms
        .iter()
        .map(|a| {
            let (token, pem) = sign(a, &format!(r#"{{"iss":"k-{a}","exp":{}}}"#, now() + 300));
            (*a, token, pem)
        })
        .collect();
    let secrets: Vec<serde_json::Value> = signed
        .iter()
        .map(|(a, _, pem)| serde_json::json!({"key": format!("k-{a}"), "algorithm": a, "rsa_public_key": pem}))
        .collect();
    let config = serde_json::json!({"claims_to_verify": ["exp"], "maximum_expiration": 600,
        "consumers": [{"id": "c-svc", "username": "svc", "jwt_secrets": secrets}]});
    let yaml = api_with_jwt(&config);
    let rs256_pem = &signed[0].2;
    let bad = "Bearer error=\"invalid_token\"";
    for host in all_hosts("public_key_algorithms_and_attacks") {
        let gw = Gateway::start(host, &yaml, &dist_dir());
        for (algorithm, token, _) in &signed {
            let r = get(
                gw.addr(),
                "/api",
                &[("authorization", &format!("Bearer {token}"))],
            );
            assert_eq!(r.status, 200, "{host:?} {algorithm}: {}", r.text());
            let credential = upstream(&r, "x-credential-identifier");
            assert_eq!(credential, Some(format!("k-{algorithm}")), "{host:?}");
        }
        let claims = |iss: &str, exp: u64| format!(r#"{{"iss":"{iss}","exp":{exp}}}"#);
        let attacks = [
            // Algorithm confusion: HS256 keyed with the RS256 credential's public PEM.
            (
                token(&claims("k-RS256", now() + 60), rs256_pem.as_bytes()),
                "Invalid algorithm",
            ),
            (
                token(&claims("k-unknown", now() + 60), b"x"),
                "No credentials found for given 'iss'",
            ),
            ("e30.e30.sig".to_string(), "Bad token; invalid alg"),
            ("%%%.@@@.!!!".to_string(), "Bad token; invalid JSON"),
            (
                format!("{}.{}.", b64(br#"{"alg":"RS256"}"#), b64(b"[not json")),
                "Bad token; invalid JSON",
            ),
        ];
        for (t, message) in attacks {
            let r = get(
                gw.addr(),
                "/api",
                &[("authorization", &format!("Bearer {t}"))],
            );
            assert_eq!(
                (r.status, r.json()["message"].as_str()),
                (401, Some(message)),
                "{host:?}"
            );
            assert_eq!(r.header("www-authenticate"), Some(bad), "{host:?}");
        }
        // A signature cut short, an expiry beyond maximum_expiration.
        let (_, es_token, _) = &signed[2];
        let cut = &es_token[..es_token.len() - 8];
        let r = get(
            gw.addr(),
            "/api",
            &[("authorization", &format!("Bearer {cut}"))],
        );
        assert_eq!(r.json()["message"], "Invalid signature", "{host:?}");
        // The RSA key pair is the same for every RSA token here: a valid signature, too far off.
        let (far, _) = sign("RS256", &claims("k-RS256", now() + 3600));
        let r = get(
            gw.addr(),
            "/api",
            &[("authorization", &format!("Bearer {far}"))],
        );
        assert_eq!(r.status, 401, "{host:?}");
        let want = serde_json::json!({"exp": "exceeds maximum allowed expiration"});
        assert_eq!(r.json(), want, "{host:?}");
        // 64 KiB of token: refused (by the host's header limit, or as a bad token), and the
        // gateway goes on serving.
        let huge = format!(
            "Bearer {}.{}.x",
            b64(br#"{"alg":"HS256"}"#),
            "A".repeat(64 * 1024)
        );
        let r = get(gw.addr(), "/api", &[("authorization", &huge)]);
        assert!((400..500).contains(&r.status), "{host:?}: {}", r.status);
        let (_, token, _) = &signed[0];
        let r = get(
            gw.addr(),
            "/api",
            &[("authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(r.status, 200, "{host:?}");
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// Waits (up to 5 s) until `probe` says yes; false when it never did.
/// Credentials kept in Redis, written with the `credentials` command's code: a put, a rotation
/// (both secrets accepted), the old one retired, a public key, a delete, seen by two gateways
/// within the cache TTL; with Redis gone, what a worker read stays in use.
#[test]
fn credentials_in_redis_are_shared_by_every_gateway() {
    use redis_filters::credentials::{self, Action, Redis};
    let test = "credentials_in_redis_are_shared_by_every_gateway";
    for (host, version) in RedisVersion::pairs(all_hosts(test), test) {
        eprintln!("{test}: {host:?}, Redis {version:?}");
        let redis = version.start(&[]);
        let config = serde_json::json!({"credentials_in_redis": true, "credential_cache_ttl": 1,
            "credential_negative_ttl": 1, "redis": {"host": "127.0.0.1", "port": redis.port}});
        let yaml = api_with_jwt(&config);
        let a = Gateway::start(host, &yaml, &dist_dir());
        let b = Gateway::start(host, &yaml, &dist_dir());
        let mut admin = Redis::connect(&format!("127.0.0.1:{}", redis.port), None, None).unwrap();
        let mut run = |action| {
            credentials::run(&mut admin, credentials::DEFAULT_PREFIX, "k-ops", action).unwrap()
        };
        let claims = format!(r#"{{"iss":"k-ops","exp":{}}}"#, now() + 300);
        let (old, new) = (token(&claims, b"old-secret"), token(&claims, b"new-secret"));
        let status = |gw: &Gateway, t: &str| {
            let r = get(
                gw.addr(),
                "/api",
                &[("authorization", &format!("Bearer {t}"))],
            );
            (r.status, r.json()["message"].as_str().map(str::to_string))
        };
        let refused = |m: &str| (401, Some(m.to_string()));
        let no_credentials = refused("No credentials found for given 'iss'");
        assert_eq!(status(&a, &old), no_credentials, "{host:?}");
        run(Action::Put {
            consumer: serde_json::json!({"id": "c-ops", "username": "ops"}),
            secret: serde_json::json!({"secret": "old-secret"}),
        });
        for gw in [&a, &b] {
            eventually(
                &format!("{host:?}: put not seen"),
                Duration::from_secs(5),
                || status(gw, &old).0 == 200,
            );
        }
        let r = get(
            b.addr(),
            "/api",
            &[("authorization", &format!("Bearer {old}"))],
        );
        assert_eq!(upstream(&r, "x-consumer-username").as_deref(), Some("ops"));
        assert_eq!(
            upstream(&r, "x-credential-identifier").as_deref(),
            Some("k-ops")
        );
        run(Action::Rotate {
            secret: serde_json::json!({"secret": "new-secret"}),
        });
        for gw in [&a, &b] {
            eventually(
                &format!("{host:?}: rotation not seen"),
                Duration::from_secs(5),
                || status(gw, &new).0 == 200,
            );
            assert_eq!(
                status(gw, &old).0,
                200,
                "{host:?}: the previous secret still counts"
            );
        }
        run(Action::Retire);
        for gw in [&a, &b] {
            let retired = || status(gw, &old) == refused("Invalid signature");
            eventually(
                &format!("{host:?}: retirement not seen"),
                Duration::from_secs(5),
                retired,
            );
            assert_eq!(status(gw, &new).0, 200, "{host:?}");
        }
        run(Action::Delete);
        for gw in [&a, &b] {
            let gone = || status(gw, &new) == no_credentials;
            eventually(
                &format!("{host:?}: delete not seen"),
                Duration::from_secs(5),
                gone,
            );
        }
        // A public key in Redis.
        let (rs, pem) = redis_jwt::public_key::testing::sign("RS256", &claims);
        run(Action::Put {
            consumer: serde_json::json!({"id": "c-ops"}),
            secret: serde_json::json!({"algorithm": "RS256", "rsa_public_key": pem}),
        });
        eventually(
            &format!("{host:?}: RS256 not seen"),
            Duration::from_secs(5),
            || status(&a, &rs).0 == 200,
        );
        // Both workers read it, as far as the kernel's choice of worker lets a client tell (a
        // worker that never did has nothing to serve once Redis is gone). A worker may still
        // hold the 1 s negative entry of the delete above, so this waits for it to pass.
        eventually(
            &format!("{host:?}: RS256 not seen by every worker"),
            Duration::from_secs(5),
            || (0..8).all(|_| status(&a, &rs).0 == 200),
        );
        // Redis gone: a worker's entry past its TTL still serves; an unknown key is Kong's 500.
        // (A worker that never read the key answers 500, one that last saw it absent 401: at
        // least one request is served.)
        let other = token(
            &format!(r#"{{"iss":"k-none","exp":{}}}"#, now() + 300),
            b"x",
        );
        drop(redis);
        clock::wait_for(
            "the 1 s credential TTL to pass",
            Duration::from_millis(1100),
        );
        let answers: Vec<_> = (0..12).map(|_| status(&a, &rs)).collect();
        assert!(
            answers.iter().any(|(s, _)| *s == 200),
            "{host:?}: a cached credential went with Redis: {answers:?}"
        );
        assert!(
            answers.iter().all(|(s, _)| [200, 401, 500].contains(s)),
            "{host:?}: {answers:?}"
        );
        let r = get(
            a.addr(),
            "/api",
            &[("authorization", &format!("Bearer {other}"))],
        );
        assert_eq!(r.status, 500, "{host:?}: {}", r.text());
        for gw in [&a, &b] {
            assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
        }
    }
}
