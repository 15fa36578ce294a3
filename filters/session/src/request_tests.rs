//! The session flow against an in-memory host (`MockHost`, `MockRedis`).

use super::*;
use crate::config::Config;
use crate::filter::Filter;
use redis_filter_core::filter_host::{FilterHost, MockHost, MockRedis};
use redis_filter_core::resp::RedisError;
use redis_filter_core::Reply;

const NOW_MS: u64 = 1_796_040_000_000;

fn setup() -> (Rc<Filter>, Rc<MockHost>, Rc<MockRedis>) {
    setup_with(
        r#"{"storage": "redis", "secret": "s", "cookie_name": "kong_session", "response_headers": ["id", "timeout"]}"#,
    )
}

fn setup_with(config: &str) -> (Rc<Filter>, Rc<MockHost>, Rc<MockRedis>) {
    let host = Rc::new(MockHost::default());
    host.now_ms.set(NOW_MS);
    let redis = Rc::new(MockRedis::default());
    let config = Config::parse(config.as_bytes()).unwrap();
    let client: Rc<dyn redis_filter_core::filter_host::RedisSubmit> = redis.clone();
    let filter = Filter::with_host(config, host.clone(), Some(client), 1);
    (Rc::new(filter), host, redis)
}

fn request(host: &MockHost, method: &str, path: &str, cookie: Option<&str>) {
    host.next_request();
    let mut h = host.request_headers.borrow_mut();
    h.clear();
    h.insert(":method".into(), method.into());
    h.insert(":path".into(), path.into());
    if let Some(c) = cookie {
        h.insert("cookie".into(), c.into());
    }
    host.properties.borrow_mut().clear();
}

fn alice() -> Consumer {
    Consumer {
        id: "c-alice".into(),
        username: Some("alice".into()),
        credential: Some("k1".into()),
        ..Consumer::default()
    }
}

fn live() -> Outcome {
    Ok(vec![Reply::Array(vec![
        Reply::Int(1),
        Reply::Bulk(alice().to_json().to_string().into_bytes()),
        Reply::Bulk((NOW_MS / 1000 - 10).to_string().into_bytes()),
        Reply::Bulk((NOW_MS / 1000 - 10).to_string().into_bytes()),
        Reply::Bulk(b"alice".to_vec()),
    ])])
}

/// A cookie for a session id, as the filter signs it.
fn cookie_for(filter: &Filter, sid: &str) -> String {
    format!(
        "kong_session={}",
        cookie::value(&filter.key, "default", sid)
    )
}

#[test]
fn a_consumer_handed_over_gets_a_session_and_its_cookie() {
    let (filter, host, redis) = setup();
    request(&host, "GET", "/", None);
    identity::hand_over(host.as_ref(), &alice()).unwrap();
    let mut ctx = SessionRequest::new(7, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Pause);
    let (context, tag, commands) = redis.submitted.borrow()[0].clone();
    assert_eq!((context, tag), (7, Step::Create.code()));
    assert!(commands[0].contains("HSET") && commands[0].contains("kong_session:"));
    assert!(commands[0].contains("credential") && commands[0].contains("auth_time"));
    let exp = (NOW_MS / 1000 + 3600).to_string();
    assert!(
        commands[0].contains(&format!("$3\r\nexp\r\n${}\r\n{exp}", exp.len())),
        "{}",
        commands[0]
    );
    assert_eq!(
        ctx.on_redis(Step::Create.code(), Ok(vec![Reply::Int(8), Reply::Int(1)])),
        Action::Continue
    );
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-alice")
    );
    ctx.on_response_headers(0, false);
    let set = host.response_header("Set-Cookie").unwrap();
    assert!(set.starts_with("kong_session="), "{set}");
    assert!(
        set.ends_with("; Path=/; SameSite=Strict; Secure; HttpOnly"),
        "{set}"
    );
    assert!(host.response_header("Session-Id").is_some());
    assert_eq!(
        host.response_header("Session-Timeout").as_deref(),
        Some("900")
    );
}

#[test]
fn a_cookie_of_a_live_session_authenticates_the_request() {
    let (filter, host, redis) = setup();
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    request(&host, "GET", "/", Some(&cookie_for(&filter, &sid)));
    let mut ctx = SessionRequest::new(7, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Pause);
    let (_, tag, commands) = redis.submitted.borrow()[0].clone();
    assert_eq!(tag, Step::Read.code());
    assert!(commands[0].contains("EVALSHA") && commands[0].contains(&sid));
    assert_eq!(ctx.on_redis(Step::Read.code(), live()), Action::Continue);
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
        Some("k1")
    );
    assert_eq!(identity::handed(host.as_ref()), Some(alice()));
    ctx.on_response_headers(0, false);
    assert_eq!(host.response_header("Set-Cookie"), None, "no new cookie");
}

#[test]
fn tampered_truncated_and_foreign_cookies_are_no_session() {
    let (filter, host, redis) = setup();
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    let good = cookie_for(&filter, &sid);
    let foreign = format!(
        "kong_session={}",
        cookie::value(b"another secret", "default", &sid)
    );
    for bad in [
        good.replace("kong_session=", "kong_session=A"),
        good[..good.len() - 3].to_string(),
        foreign,
        "kong_session=".to_string(),
    ] {
        request(&host, "GET", "/", Some(&bad));
        let mut ctx = SessionRequest::new(7, filter.clone());
        assert_eq!(ctx.on_request_headers(0, true), Action::Continue, "{bad}");
        assert!(
            redis.submitted.borrow().is_empty(),
            "no Redis call for {bad}"
        );
        assert_eq!(host.request_header("x-consumer-id"), None);
    }
}

#[test]
fn logout_destroys_the_session_and_clears_the_cookie() {
    let (filter, host, redis) = setup();
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    request(
        &host,
        "POST",
        "/?session_logout",
        Some(&cookie_for(&filter, &sid)),
    );
    let mut ctx = SessionRequest::new(7, filter.clone());
    ctx.on_request_headers(0, true);
    assert_eq!(ctx.on_redis(Step::Read.code(), live()), Action::Pause);
    let (_, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!(tag, Step::Logout.code());
    assert!(commands[0].contains("DEL"));
    assert_eq!(
        ctx.on_redis(Step::Logout.code(), Ok(vec![Reply::Int(1)])),
        Action::Pause
    );
    let (status, headers, body) = host.local_response.borrow().clone().unwrap();
    assert_eq!((status, body.len()), (200, 0));
    assert!(headers[0].1.contains("Max-Age=0"));
}

#[test]
fn past_three_quarters_of_its_rolling_period_a_session_gets_a_new_id() {
    let (filter, host, redis) = setup();
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    request(&host, "GET", "/", Some(&cookie_for(&filter, &sid)));
    let mut ctx = SessionRequest::new(7, filter.clone());
    ctx.on_request_headers(0, true);
    let old = (NOW_MS / 1000 - 2800).to_string().into_bytes();
    let aging = Ok(vec![Reply::Array(vec![
        Reply::Int(1),
        Reply::Bulk(alice().to_json().to_string().into_bytes()),
        Reply::Bulk(old.clone()),
        Reply::Bulk(old),
        Reply::Bulk(b"alice".to_vec()),
    ])]);
    assert_eq!(ctx.on_redis(Step::Read.code(), aging), Action::Pause);
    let (_, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!(tag, Step::Renew.code());
    assert!(commands[0].contains("HSET") && !commands[0].contains(&sid));
    assert!(
        commands.last().unwrap().contains(&sid),
        "the old id expires after stale_ttl"
    );
    assert_eq!(
        ctx.on_redis(Step::Renew.code(), Ok(vec![Reply::Int(8)])),
        Action::Continue
    );
    ctx.on_response_headers(0, false);
    let set = host.response_header("Set-Cookie").unwrap();
    assert!(!set.contains(&sid), "a new id");
}

#[test]
fn redis_down_is_no_session_and_no_error() {
    let (filter, host, _) = setup();
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    request(&host, "GET", "/", Some(&cookie_for(&filter, &sid)));
    let mut ctx = SessionRequest::new(7, filter.clone());
    ctx.on_request_headers(0, true);
    assert_eq!(
        ctx.on_redis(Step::Read.code(), Err(RedisError::Timeout)),
        Action::Continue
    );
    assert_eq!(host.request_header("x-consumer-id"), None);
    assert!(host.local_response.borrow().is_none());
    assert_eq!(host.metric("redis_session.redis_errors"), 1);
}

#[test]
fn storage_cookie_keeps_the_whole_session_in_a_sealed_cookie() {
    let (filter, host, redis) =
        setup_with(r#"{"secret": "s", "cookie_name": "kong_session", "idling_timeout": 120}"#);
    request(&host, "GET", "/", None);
    identity::hand_over(host.as_ref(), &alice()).unwrap();
    let mut ctx = SessionRequest::new(7, filter.clone());
    assert_eq!(
        ctx.on_request_headers(0, true),
        Action::Continue,
        "no Redis"
    );
    ctx.on_response_headers(0, false);
    let cookie = host.response_header("Set-Cookie").unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    assert!(!pair.contains("alice"), "sealed");
    // The cookie alone authenticates the next request.
    host.now_ms.set(NOW_MS + 30_000);
    request(&host, "GET", "/", Some(&pair));
    let mut ctx = SessionRequest::new(8, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Continue);
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-alice")
    );
    ctx.on_response_headers(0, false);
    assert_eq!(
        host.response_header("Set-Cookie"),
        None,
        "not idle long enough to reseal"
    );
    // Idle past the timeout: no session.
    host.now_ms.set(NOW_MS + 200_000);
    request(&host, "GET", "/", Some(&pair));
    let mut ctx = SessionRequest::new(9, filter.clone());
    ctx.on_request_headers(0, true);
    assert_eq!(host.request_header("x-consumer-id"), None);
    // Logout clears the cookie.
    host.now_ms.set(NOW_MS + 30_000);
    request(&host, "DELETE", "/?session_logout", Some(&pair));
    let mut ctx = SessionRequest::new(10, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Pause);
    assert_eq!(host.local_response.borrow().as_ref().unwrap().0, 200);
    assert!(redis.submitted.borrow().is_empty(), "never Redis");
}

#[test]
fn read_body_for_logout_logs_out_from_a_form_or_json_body() {
    for (content_type, body, logs_out) in [
        (
            "application/x-www-form-urlencoded",
            &b"a=1&session_logout=yes"[..],
            true,
        ),
        ("application/json", br#"{"session_logout": true}"#, true),
        ("application/json", br#"{"session_logout": false}"#, false),
        ("application/x-www-form-urlencoded", b"a=1", false),
    ] {
        let (filter, host, redis) = setup_with(
            r#"{"storage": "redis", "secret": "s", "cookie_name": "kong_session", "read_body_for_logout": true}"#,
        );
        let sid = cookie::b64url(&[9u8; SID_BYTES]);
        request(&host, "POST", "/", Some(&cookie_for(&filter, &sid)));
        host.request_headers
            .borrow_mut()
            .insert("content-type".into(), content_type.into());
        *host.request_body.borrow_mut() = body.to_vec();
        let mut ctx = SessionRequest::new(7, filter.clone());
        ctx.on_request_headers(0, false);
        assert_eq!(ctx.on_redis(Step::Read.code(), live()), Action::Continue);
        host.request_headers
            .borrow_mut()
            .insert("content-length".into(), body.len().to_string());
        // Whole at its Content-Length even without end_of_stream (Kong's engine).
        let action = ctx.on_request_body(body.len(), false);
        if logs_out {
            assert_eq!(action, Action::Pause, "{body:?}");
            assert!(redis.submitted.borrow()[1].2[0].contains("DEL"));
            assert_eq!(
                ctx.on_redis(Step::Logout.code(), Ok(vec![Reply::Int(1)])),
                Action::Pause
            );
            assert_eq!(host.local_response.borrow().as_ref().unwrap().0, 200);
        } else {
            assert_eq!(action, Action::Continue, "{body:?}");
            assert!(host.local_response.borrow().is_none());
        }
    }
}

const REMEMBERING: &str =
    r#"{"storage": "redis", "secret": "s", "cookie_name": "kong_session", "remember": true}"#;

#[test]
fn with_remember_a_login_writes_both_sessions_and_sets_both_cookies() {
    let (filter, host, redis) = setup_with(REMEMBERING);
    request(&host, "GET", "/", None);
    identity::hand_over(host.as_ref(), &alice()).unwrap();
    let mut ctx = SessionRequest::new(7, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Pause);
    let (_, _, commands) = redis.submitted.borrow()[0].clone();
    let hsets: Vec<&String> = commands.iter().filter(|c| c.contains("HSET")).collect();
    assert_eq!(hsets.len(), 2);
    assert!(hsets[0].contains("kong_session:") && hsets[1].contains("remember:"));
    ctx.on_redis(Step::Create.code(), Ok(vec![Reply::Int(8); 4]));
    ctx.on_response_headers(0, false);
    let cookies: Vec<String> = host
        .response_headers
        .borrow()
        .iter()
        .filter(|(k, _)| k == "Set-Cookie")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[1].starts_with("remember=") && cookies[1].contains("Max-Age=604800"));
}

#[test]
fn a_live_remember_session_brings_a_session_back() {
    let (filter, host, redis) = setup_with(REMEMBERING);
    let sid = cookie::b64url(&[9u8; SID_BYTES]);
    let rsid = cookie::b64url(&[8u8; SID_BYTES]);
    let remember = format!("remember={}", cookie::value(&filter.key, "default", &rsid));
    let both = format!("{}; {remember}", cookie_for(&filter, &sid));
    request(&host, "GET", "/", Some(&both));
    let mut ctx = SessionRequest::new(7, filter.clone());
    ctx.on_request_headers(0, true);
    let gone = Ok(vec![Reply::Array(vec![
        Reply::Int(0),
        Reply::Bulk(b"idling".to_vec()),
    ])]);
    assert_eq!(
        ctx.on_redis(Step::Read.code(), gone),
        Action::Pause,
        "the remember session is read"
    );
    let (_, tag, commands) = redis.submitted.borrow()[1].clone();
    assert_eq!(tag, Step::Remember.code());
    assert!(commands[0].contains(&format!("remember:{rsid}")));
    assert_eq!(
        ctx.on_redis(Step::Remember.code(), live()),
        Action::Pause,
        "written again"
    );
    let (_, tag, commands) = redis.submitted.borrow()[2].clone();
    assert_eq!(tag, Step::Create.code());
    assert!(commands.last().unwrap().contains("DEL") && commands.last().unwrap().contains(&rsid));
    assert_eq!(
        ctx.on_redis(Step::Create.code(), Ok(vec![Reply::Int(8); 5])),
        Action::Continue
    );
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-alice")
    );
}

#[test]
fn in_a_cookie_too_the_remember_cookie_brings_a_session_back() {
    let (filter, host, _) =
        setup_with(r#"{"secret": "s", "cookie_name": "kong_session", "remember": true}"#);
    request(&host, "GET", "/", None);
    identity::hand_over(host.as_ref(), &alice()).unwrap();
    let mut ctx = SessionRequest::new(7, filter.clone());
    ctx.on_request_headers(0, true);
    ctx.on_response_headers(0, false);
    let remember = host
        .response_headers
        .borrow()
        .iter()
        .find(|(k, v)| k == "Set-Cookie" && v.starts_with("remember="))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap();
    // The browser closed: only the remember cookie comes back, an hour later.
    host.now_ms.set(NOW_MS + 3_600_000 * 2);
    request(&host, "GET", "/", Some(&remember));
    let mut ctx = SessionRequest::new(8, filter.clone());
    assert_eq!(ctx.on_request_headers(0, true), Action::Continue);
    assert_eq!(
        host.request_header("x-consumer-id").as_deref(),
        Some("c-alice")
    );
}
