//! Kong's jwt flow against an in-memory host.

use super::*;
use crate::token::testing::sign;
use redis_filter_core::filter_host::MockHost;

const NOW_MS: u64 = 1_796_040_000_000;
const CONFIG: &str = r#"{"claims_to_verify": ["exp"], "consumers": [
    {"id": "c-alice", "username": "alice", "jwt_secrets": [{"key": "k-alice", "secret": "s3cret"}]},
    {"id": "c-anon", "username": "anonymous"}]}"#;

fn filter(config: &str, host: Rc<MockHost>) -> Rc<Filter> {
    Rc::new(Filter {
        config: Config::parse(config.as_bytes()).unwrap(),
        host,
        client: None,
        cache: Default::default(),
        verified: Default::default(),
        failure_log: Default::default(),
    })
}

fn run(config: &str, headers: &[(&str, &str)]) -> (Rc<MockHost>, Action) {
    let mut host = MockHost::default()
        .header(":method", "GET")
        .header(":path", "/");
    for (k, v) in headers {
        host = host.header(k, v);
    }
    host.now_ms.set(NOW_MS);
    let host = Rc::new(host);
    let action = JwtRequest::new(1, filter(config, host.clone())).on_request_headers(0, true);
    (host, action)
}

fn answer(host: &MockHost) -> (u32, String, Value) {
    let local = host.local_response.borrow();
    let (status, headers, body) = local.as_ref().unwrap();
    let www = headers
        .iter()
        .find(|(k, _)| k == "WWW-Authenticate")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (*status, www, serde_json::from_slice(body).unwrap())
}

fn exp(offset: i64) -> String {
    format!(
        r#"{{"iss":"k-alice","exp":{}}}"#,
        NOW_MS as i64 / 1000 + offset
    )
}

#[test]
fn a_valid_token_authenticates_and_hands_the_consumer_on() {
    let token = sign("HS256", &exp(60), b"s3cret");
    let bearer = format!("Bearer {token}");
    let (host, action) = run(
        CONFIG,
        &[
            ("authorization", &bearer),
            ("x-consumer-username", "mallory"),
        ],
    );
    assert_eq!(action, Action::Continue);
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-alice")
    );
    assert_eq!(
        host.request_header("x-consumer-username").as_deref(),
        Some("alice")
    );
    assert_eq!(
        host.request_header("x-credential-identifier").as_deref(),
        Some("k-alice")
    );
    assert_eq!(identity::handed(host.as_ref()).unwrap().id, "c-alice");
}

#[test]
fn kongs_401s() {
    let good = sign("HS256", &exp(60), b"s3cret");
    let cases: Vec<(String, &str, Value)> = vec![
        (
            String::new(),
            "Bearer",
            serde_json::json!({"message": "Unauthorized"}),
        ),
        (
            sign("HS256", &exp(-1), b"s3cret"),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"exp": "token expired"}),
        ),
        (
            sign("HS256", &exp(60), b"wrong"),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"message": "Invalid signature"}),
        ),
        (
            sign("HS512", &exp(60), b"s3cret"),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"message": "Invalid algorithm"}),
        ),
        (
            sign("HS256", r#"{"exp":1}"#, b"s3cret"),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"message": "No mandatory 'iss' in claims"}),
        ),
        (
            sign("HS256", r#"{"iss":"nobody"}"#, b"s3cret"),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"message": "No credentials found for given 'iss'"}),
        ),
        (
            "not.a.token".into(),
            "Bearer error=\"invalid_token\"",
            serde_json::json!({"message": "Bad token; invalid JSON"}),
        ),
    ];
    for (token, www, body) in cases {
        let bearer = format!("Bearer {token}");
        let headers: Vec<(&str, &str)> = if token.is_empty() {
            vec![]
        } else {
            vec![("authorization", &bearer)]
        };
        let (host, action) = run(CONFIG, &headers);
        assert_eq!(action, Action::Pause, "{token}");
        assert_eq!(answer(&host), (401, www.to_string(), body), "{token}");
        assert_eq!(host.request_header("x-consumer-id"), None);
    }
    let path = format!("/?jwt={good}");
    let bearer = format!("Bearer {}", sign("HS256", &exp(30), b"s3cret"));
    let mut host = MockHost::default()
        .header(":method", "GET")
        .header(":path", &path);
    host = host.header("authorization", &bearer);
    host.now_ms.set(NOW_MS);
    let host = Rc::new(host);
    JwtRequest::new(1, filter(CONFIG, host.clone())).on_request_headers(0, true);
    assert_eq!(answer(&host).2["message"], "Multiple tokens provided");
}

#[test]
fn anonymous_and_realm() {
    let anon = CONFIG.replace(
        r#""claims_to_verify""#,
        r#""anonymous": "anonymous", "claims_to_verify""#,
    );
    let (host, action) = run(&anon, &[("x-consumer-id", "c-alice")]);
    assert_eq!(action, Action::Continue);
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-anon")
    );
    assert_eq!(
        host.request_header("x-anonymous-consumer").as_deref(),
        Some("true")
    );
    assert!(
        identity::handed(host.as_ref()).is_none(),
        "anonymous is not handed on"
    );
    let realm = CONFIG.replace(
        r#""claims_to_verify""#,
        r#""realm": "shop", "claims_to_verify""#,
    );
    let (host, _) = run(&realm, &[]);
    assert_eq!(answer(&host).1, "Bearer realm=\"shop\"");
    let missing = CONFIG.replace(
        r#""claims_to_verify""#,
        r#""anonymous": "ghost", "claims_to_verify""#,
    );
    let (host, _) = run(&missing, &[]);
    assert_eq!(host.local_response.borrow().as_ref().unwrap().0, 500);
}

/// A config whose one credential is `algorithm` with this public key.
fn keyed(algorithm: &str, pem: &str) -> String {
    serde_json::json!({"consumers": [{"id": "c-svc", "username": "svc", "jwt_secrets": [
        {"key": "k-svc", "algorithm": algorithm, "rsa_public_key": pem}]}]})
    .to_string()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn every_asymmetric_algorithm_authenticates_with_its_public_key() {
    for algorithm in crate::public_key::ALGORITHMS {
        let (token, pem) = crate::public_key::testing::sign(algorithm, r#"{"iss":"k-svc"}"#);
        let (host, action) = run(
            &keyed(algorithm, &pem),
            &[("authorization", &bearer(&token))],
        );
        assert_eq!(action, Action::Continue, "{algorithm}");
        assert_eq!(
            host.request_header("x-credential-identifier").as_deref(),
            Some("k-svc")
        );
        // The same token under another key of the same kind: Kong's "Invalid signature".
        let other = crate::public_key::testing::another_key(algorithm);
        let (host, action) = run(
            &keyed(algorithm, &other),
            &[("authorization", &bearer(&token))],
        );
        assert_eq!(action, Action::Pause, "{algorithm}");
        let (status, _, body) = answer(&host);
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Invalid signature"))
        );
    }
}

#[test]
fn algorithm_confusion_the_public_key_as_an_hmac_secret_is_refused() {
    let (_, pem) = crate::public_key::testing::sign("RS256", "{}");
    // The attacker signs HS256 with the (public) PEM as the secret and names the RS256 credential.
    let forged = sign("HS256", r#"{"iss":"k-svc"}"#, pem.as_bytes());
    let (host, action) = run(
        &keyed("RS256", &pem),
        &[("authorization", &bearer(&forged))],
    );
    assert_eq!(action, Action::Pause);
    let (status, www, body) = answer(&host);
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Invalid algorithm"))
    );
    assert_eq!(www, "Bearer error=\"invalid_token\"");
}

#[test]
fn an_es_credential_without_a_key_is_kongs_invalid_key() {
    let (token, _) = crate::public_key::testing::sign("ES256", r#"{"iss":"k-svc"}"#);
    let config =
        r#"{"consumers": [{"id": "c", "jwt_secrets": [{"key": "k-svc", "algorithm": "ES256"}]}]}"#;
    let (host, _) = run(config, &[("authorization", &bearer(&token))]);
    let (status, _, body) = answer(&host);
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Invalid key/secret"))
    );
}

#[test]
fn a_kid_key_claim_is_read_from_the_header_and_an_unknown_one_refused() {
    use redis_filter_core::base64::b64url as b64;
    let config = r#"{"key_claim_name": "kid", "consumers": [
        {"id": "c-1", "jwt_secrets": [{"key": "kid-1", "secret": "s"}]}]}"#;
    let signed = |kid: &str| {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#).as_bytes()),
            b64(b"{}")
        );
        let mac = redis_filter_core::hmac::hmac(
            redis_filter_core::hmac::Sha::S256,
            b"s",
            input.as_bytes(),
        );
        format!("Bearer {input}.{}", b64(&mac))
    };
    let (_, action) = run(config, &[("authorization", &signed("kid-1"))]);
    assert_eq!(action, Action::Continue);
    let (host, _) = run(config, &[("authorization", &signed("kid-9"))]);
    let (status, _, body) = answer(&host);
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("No credentials found for given 'kid'"))
    );
}
