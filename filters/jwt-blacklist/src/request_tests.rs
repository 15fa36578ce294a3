//! The blacklist's request flow against an in-memory host (`MockHost`, `MockRedis`): the lookup
//! and its answers, Redis failing closed or open, a client's revocation, an operator's.

use super::*;
use redis_filter_core::filter_host::{MockHost, MockRedis};
use redis_filter_core::jwt::testing::sign;
use redis_filter_core::{RedisError, Reply};

const NOW_MS: u64 = 1_796_040_000_000;
const SECRET: &str = "an-operator-secret";

fn setup(extra: &str, host: MockHost) -> (BlacklistRequest, Rc<MockHost>, Rc<MockRedis>) {
    host.now_ms.set(NOW_MS);
    let host = Rc::new(host);
    let redis = Rc::new(MockRedis::default());
    let config = format!(
        r#"{{"storage": "redis", "revoke_path": "/logout", "admin_path": "/admin/revoked",
            "admin_secret": "{SECRET}"{extra}}}"#
    );
    let filter = Rc::new(Filter {
        config: Config::parse(config.as_bytes()).unwrap(),
        host: host.clone(),
        client: redis.clone(),
        failure_log: FailureLog::default(),
        root_id: 1,
    });
    (BlacklistRequest::new(7, filter), host, redis)
}

fn get(path: &str, token: Option<&str>) -> MockHost {
    let host = MockHost::default()
        .header(
            ":method",
            if path == "/logout" || path.starts_with("/admin") {
                "POST"
            } else {
                "GET"
            },
        )
        .header(":path", path);
    match token {
        Some(t) => host.header("authorization", &format!("Bearer {t}")),
        None => host,
    }
}

fn answer(host: &MockHost) -> Option<(u32, String)> {
    let local = host.local_response.borrow();
    let (status, _, body) = local.as_ref()?;
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    Some((*status, body["message"].as_str().unwrap_or("").to_string()))
}

fn token(claims: &str) -> String {
    sign("HS256", claims, b"s")
}

#[test]
fn a_revoked_token_is_refused_and_another_goes_on() {
    let t = token(r#"{"jti":"t-1"}"#);
    let (mut r, host, redis) = setup("", get("/api", Some(&t)));
    assert_eq!(r.on_request_headers(0, true), Action::Pause);
    let sent = redis.submitted.borrow()[0].2.join("");
    assert!(
        sent.contains("EXISTS") && sent.contains("jwt_blacklist:t-1"),
        "{sent}"
    );
    assert_eq!(
        r.on_redis(Step::Lookup.code(), Ok(vec![Reply::Int(1)])),
        Action::Pause
    );
    assert_eq!(answer(&host), Some((401, "Token revoked".into())));

    let (mut r, host, _) = setup("", get("/api", Some(&t)));
    r.on_request_headers(0, true);
    assert_eq!(
        r.on_redis(Step::Lookup.code(), Ok(vec![Reply::Int(0)])),
        Action::Continue
    );
    assert_eq!(answer(&host), None);

    // No token: redis-jwt answers that; nothing is asked of Redis.
    let (mut r, _, redis) = setup("", get("/api", None));
    assert_eq!(r.on_request_headers(0, true), Action::Continue);
    assert!(redis.submitted.borrow().is_empty());
}

#[test]
fn redis_failing_is_503_unless_fault_tolerant() {
    let t = token(r#"{"iss":"k"}"#);
    let (mut r, host, redis) = setup("", get("/api", Some(&t)));
    r.on_request_headers(0, true);
    // No jti: the token's SHA-256 is its id.
    let sent = redis.submitted.borrow()[0].2.join("");
    assert!(
        sent.contains(&redis_filter_core::hmac::sha256_hex(&t)),
        "{sent}"
    );
    r.on_redis(Step::Lookup.code(), Err(RedisError::Timeout));
    assert_eq!(
        answer(&host),
        Some((503, "The revocation list is unavailable".into()))
    );

    let (mut r, host, _) = setup(r#", "fault_tolerant": true"#, get("/api", Some(&t)));
    r.on_request_headers(0, true);
    assert_eq!(
        r.on_redis(Step::Lookup.code(), Err(RedisError::Timeout)),
        Action::Continue
    );
    assert_eq!(answer(&host), None);
}

#[test]
fn a_client_revokes_only_a_token_an_authentication_filter_accepted_before_or_after() {
    let exp = NOW_MS / 1000 + 120;
    let t = token(&format!(r#"{{"jti":"t-9","exp":{exp}}}"#));
    // First in the chain: the request goes on; an authentication filter after this one
    // refuses it (nothing handed over), and nothing is revoked.
    let (mut r, host, redis) = setup("", get("/logout", Some(&t)));
    assert_eq!(r.on_request_headers(0, true), Action::Continue);
    assert_eq!(r.on_response_headers(0, true), Action::Continue);
    assert!(redis.submitted.borrow().is_empty());
    assert_eq!(answer(&host), None);
    // ... or accepts it: revoked by the root as the response passes.
    let (mut r, host, redis) = setup("", get("/logout", Some(&t)));
    assert_eq!(r.on_request_headers(0, true), Action::Continue);
    let consumer = identity::Consumer {
        id: "c-1".into(),
        custom_id: None,
        username: None,
        credential: Some("k".into()),
        groups: Vec::new(),
    };
    identity::hand_over(host.as_ref(), &consumer).unwrap();
    assert_eq!(r.on_response_headers(0, true), Action::Continue);
    let (context, tag, sent) = redis.submitted.borrow()[0].clone();
    assert_eq!((context, tag), (1, Step::Revoke.code()));
    assert!(sent.join("").contains("jwt_blacklist:t-9"));

    // After it: revoked at once, answered here.
    let (mut r, host, redis) = setup("", get("/logout", Some(&t)));
    identity::hand_over(host.as_ref(), &consumer).unwrap();
    assert_eq!(r.on_request_headers(0, true), Action::Pause);
    let sent = redis.submitted.borrow()[0].2.join("");
    assert!(
        sent.contains("jwt_blacklist:t-9") && sent.contains("\r\n120\r\n"),
        "{sent}"
    );
    r.on_redis(Step::Revoke.code(), Ok(vec![Reply::Status("OK".into())]));
    assert_eq!(answer(&host), Some((200, "Token revoked".into())));
}

#[test]
fn an_operator_needs_the_secret() {
    let (mut r, host, redis) = setup("", get("/admin/revoked/t-5", None));
    r.on_request_headers(0, true);
    assert_eq!(answer(&host), Some((401, "Unauthorized".into())));
    assert!(redis.submitted.borrow().is_empty());

    let (mut r, host, redis) = setup(
        "",
        get("/admin/revoked/t%2D5", None).header(SECRET_HEADER, SECRET),
    );
    assert_eq!(r.on_request_headers(0, true), Action::Pause);
    let sent = redis.submitted.borrow()[0].2.join("");
    assert!(
        sent.contains("jwt_blacklist:t-5") && sent.contains("86400"),
        "{sent}"
    );
    r.on_redis(Step::Revoke.code(), Err(RedisError::Timeout));
    assert_eq!(
        answer(&host),
        Some((503, "The revocation list is unavailable".into()))
    );
}
