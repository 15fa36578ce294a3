//! Alice, the consumer of the chain tests: her redis-jwt consumer record, her tokens, her
//! credential stored where `credentials_in_redis` reads it, and the kong.yml of the chains users
//! build around her (each also as one `redis-chain`).

use crate::http::get;
use crate::RedisServer;
use redis_filter_core::jwt::testing::sign;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Alice as redis-jwt's `consumers` lists her.
pub const CONSUMER: &str = r#"{"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "alice-secret"}]}"#;

/// A token of alice's with `jti`, valid for the tests.
pub fn token(jti: &str) -> String {
    let claims = format!(r#"{{"iss":"k-alice","exp":4102444800,"jti":"{jti}"}}"#);
    sign("HS256", &claims, b"alice-secret")
}

/// Puts alice's credential where redis-jwt reads it (`credentials_in_redis`).
pub fn put_in_redis(redis: &RedisServer) {
    use redis_filters::credentials::{self, Action, Redis};
    let mut admin = Redis::connect(&format!("127.0.0.1:{}", redis.port), None, None).unwrap();
    credentials::run(
        &mut admin,
        credentials::DEFAULT_PREFIX,
        "k-alice",
        Action::Put {
            consumer: serde_json::json!({"id": "c-alice", "username": "alice"}),
            secret: serde_json::json!({"secret": "alice-secret"}),
        },
    )
    .unwrap();
}

/// A route: its path and its filters, each `(name, config JSON)`.
pub type Route = (String, Vec<(&'static str, String)>);

/// A kong.yml with one route per entry, to the echo upstream (`{echo}`).
pub fn yaml(routes: &[Route]) -> String {
    let routes: Vec<(&str, Vec<(&str, String)>)> = routes
        .iter()
        .map(|(path, filters)| (path.as_str(), filters.clone()))
        .collect();
    crate::kong_yml::KongYml::new().routes(&routes).to_string()
}

/// The same filters as one `redis-chain`.
pub fn as_chain(filters: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let inner: Vec<String> = filters
        .iter()
        .map(|(name, config)| format!(r#"{{"name": "{name}", "config": {config}}}"#))
        .collect();
    vec![(
        "redis-chain",
        format!(r#"{{"filters": [{}]}}"#, inner.join(", ")),
    )]
}

/// The chains users build, on one Redis, by name (`session`, `revocable`, `limits`):
/// - a session, then redis-jwt (`anonymous`), then rate limiting by consumer;
/// - redis-jwt with its credentials read from Redis on every request, then the blacklist;
/// - two realtime limits (`minute`, then `hour`).
pub fn chains(
    redis: &RedisServer,
    minute: u64,
) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let r = format!(r#"{{"host": "127.0.0.1", "port": {}}}"#, redis.port);
    let session = format!(
        r#"{{"storage": "redis", "redis": {r}, "cookie_name": "kong_session", "secret": "a-secret-shared-by-every-node"}}"#
    );
    let jwt_anonymous = format!(
        r#"{{"anonymous": "anonymous", "consumers": [{CONSUMER}, {{"id": "c-anon", "username": "anonymous"}}]}}"#
    );
    let by_consumer = format!(
        r#"{{"hour": 100000000, "limit_by": "consumer", "policy": "redis", "redis": {r}}}"#
    );
    let jwt_in_redis =
        format!(r#"{{"credentials_in_redis": true, "credential_cache_ttl": 0, "redis": {r}}}"#);
    let blacklist = format!(r#"{{"storage": "redis", "redis": {r}}}"#);
    let per_minute = format!(r#"{{"minute": {minute}, "policy": "redis", "redis": {r}}}"#);
    let hour = format!(r#"{{"hour": 100000000, "policy": "redis", "redis": {r}}}"#);
    vec![
        (
            "session",
            vec![
                ("redis-session", session),
                ("redis-jwt", jwt_anonymous),
                ("redis-rate-limiting", by_consumer),
            ],
        ),
        (
            "revocable",
            vec![
                ("redis-jwt", jwt_in_redis),
                ("redis-jwt-blacklist", blacklist),
            ],
        ),
        (
            "limits",
            vec![
                ("redis-rate-limiting", per_minute),
                ("redis-rate-limiting", hour),
            ],
        ),
    ]
}

/// Each chain twice: as separate filters at `/<name>` (ended with redis-chain-end, as Kong's
/// engine needs) and as one `redis-chain` at `/chain/<name>`.
pub fn both_forms(redis: &RedisServer, minute: u64) -> String {
    yaml(&both_forms_routes(redis, minute))
}

/// `both_forms`' routes, for a test to add its own.
pub fn both_forms_routes(redis: &RedisServer, minute: u64) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    for (name, filters) in chains(redis, minute) {
        let mut separate = filters.clone();
        separate.push(("redis-chain-end", "{}".to_string()));
        routes.push((format!("/{name}"), separate));
        routes.push((format!("/chain/{name}"), as_chain(&filters)));
    }
    routes
}

/// Alice's session cookie: a request with her token through a session chain at `path` (the
/// session learns the consumer in the response phase and its root writes it), then the cookie
/// alone is alice there once it is in Redis.
pub fn session_cookie(addr: SocketAddr, path: &str) -> String {
    let bearer = format!("Bearer {}", token("t-1"));
    let login = get(addr, path, &[("authorization", &bearer)]);
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = login
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kong_session="))
        .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no session: {:?}", login.headers));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(addr, path, &[("cookie", &cookie)]);
        if r.json()["headers"]["x-consumer-id"] == "c-alice" {
            return cookie;
        }
        assert!(Instant::now() < deadline, "not alice: {}", r.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}
