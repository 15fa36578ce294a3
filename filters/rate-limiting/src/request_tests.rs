//! Rate limiting's request flow against an in-memory host (`MockHost`, `MockRedis`): what a
//! request gets when it is allowed, limited, when Redis fails with and without
//! `fault_tolerant`, with headers hidden, and with Kong's properties present or absent.

use super::*;
use crate::config::Config;
use crate::filter::Filter;
use redis_filter_core::filter_host::{MockHost, MockRedis};
use redis_filter_core::resp::RedisError;
use redis_filter_core::Reply;
use std::rc::Rc;

/// 2026-11-30T12:00:30Z: half a minute into a minute window.
const NOW_MS: u64 = 1_796_040_030_000;

fn setup(config: &str, host: MockHost) -> (Rc<Filter>, Rc<MockHost>, Rc<MockRedis>) {
    host.now_ms.set(NOW_MS);
    let host = Rc::new(host);
    let redis = Rc::new(MockRedis::default());
    let config = Config::parse(config.as_bytes()).unwrap();
    let filter = Filter::with_host(config, host.clone(), Some(redis.clone()));
    (Rc::new(filter), host, redis)
}

fn request(filter: &Rc<Filter>, host: &MockHost, id: u32) -> (RateLimit, Action) {
    host.next_request();
    let mut r = RateLimit::new(id, filter.clone());
    let action = r.on_request_headers(0, true);
    (r, action)
}

fn status(host: &MockHost) -> Option<u32> {
    host.local_response.borrow().as_ref().map(|(s, _, _)| *s)
}

fn body(host: &MockHost) -> serde_json::Value {
    let local = host.local_response.borrow();
    serde_json::from_slice(&local.as_ref().unwrap().2).unwrap()
}

#[test]
fn allowed_requests_carry_kongs_headers_then_the_next_gets_429() {
    let (filter, host, _) = setup(r#"{"minute": 2, "policy": "local"}"#, MockHost::default());
    for remaining in ["1", "0"] {
        let (mut r, action) = request(&filter, &host, 10);
        assert_eq!(action, Action::Continue);
        assert_eq!(r.on_response_headers(0, false), Action::Continue);
        assert_eq!(
            host.response_header("X-RateLimit-Limit-Minute").as_deref(),
            Some("2")
        );
        assert_eq!(
            host.response_header("X-RateLimit-Remaining-Minute")
                .as_deref(),
            Some(remaining)
        );
        assert_eq!(
            host.response_header("RateLimit-Reset").as_deref(),
            Some("30")
        );
    }
    let (_, action) = request(&filter, &host, 11);
    assert_eq!(action, Action::Pause);
    assert_eq!(status(&host), Some(429));
    assert_eq!(body(&host)["message"], "API rate limit exceeded");
    let local = host.local_response.borrow();
    let headers = &local.as_ref().unwrap().1;
    assert!(headers.contains(&("Retry-After".into(), "30".into())));
    assert!(headers.contains(&(
        "Content-Type".into(),
        "application/json; charset=utf-8".into()
    )));
    drop(local);
    assert_eq!(host.metric("redis_rate_limiting.allowed"), 2);
    assert_eq!(host.metric("redis_rate_limiting.limited"), 1);
}

#[test]
fn the_rejection_carries_the_hosts_request_id() {
    let host = MockHost::default().with_property("request.id", "abc123");
    let (filter, host, _) = setup(r#"{"second": 1, "policy": "local"}"#, host);
    request(&filter, &host, 10);
    request(&filter, &host, 11);
    assert_eq!(body(&host)["request_id"], "abc123");
}

#[test]
fn hidden_headers_and_a_custom_rejection() {
    let config = r#"{"minute": 1, "policy": "local", "hide_client_headers": true,
                     "error_code": 403, "error_message": "slow down"}"#;
    let (filter, host, _) = setup(config, MockHost::default());
    let (mut r, _) = request(&filter, &host, 10);
    r.on_response_headers(0, false);
    assert!(host.response_headers.borrow().is_empty());
    request(&filter, &host, 11);
    assert_eq!(status(&host), Some(403));
    assert_eq!(body(&host)["message"], "slow down");
    let local = host.local_response.borrow();
    assert!(!local
        .as_ref()
        .unwrap()
        .1
        .iter()
        .any(|(k, _)| k == "Retry-After"));
}

#[test]
fn realtime_waits_for_redis_then_counts_from_its_reply() {
    let config = r#"{"minute": 5, "hour": 10, "policy": "redis", "limit_by": "ip"}"#;
    let host = MockHost::default().with_property("source.address", "10.0.0.7:5555");
    let (filter, host, redis) = setup(config, host);
    let (mut r, action) = request(&filter, &host, 10);
    assert_eq!(action, Action::Pause, "waits for its Redis answer");
    let submitted = redis.submitted.borrow();
    let (context, _, commands) = &submitted[0];
    assert_eq!(*context, 10);
    let script = &commands[0];
    assert!(script.contains("EVALSHA"), "{script}");
    assert!(
        script.contains(
            "ratelimit:00000000-0000-0000-0000-000000000000:00000000-0000-0000-0000-000000000000:10.0.0.7:1796040000000:minute"
        ),
        "Kong's key, the client's address without its port: {script}"
    );
    drop(submitted);
    // The script answers the counts before this request: 4 this minute, 4 this hour.
    let counts = Reply::Array(vec![Reply::Int(4), Reply::Int(4)]);
    assert_eq!(
        r.on_redis(Step::Count.code(), Ok(vec![counts])),
        Action::Continue
    );
    r.on_response_headers(0, false);
    assert_eq!(
        host.response_header("X-RateLimit-Remaining-Minute")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        host.response_header("X-RateLimit-Remaining-Hour")
            .as_deref(),
        Some("5")
    );
}

#[test]
fn redis_failing_lets_requests_through_when_fault_tolerant() {
    let (filter, host, _) = setup(r#"{"minute": 5, "policy": "redis"}"#, MockHost::default());
    let (mut r, _) = request(&filter, &host, 10);
    assert_eq!(
        r.on_redis(Step::Count.code(), Err(RedisError::Timeout)),
        Action::Continue
    );
    r.on_response_headers(0, false);
    assert!(host.response_headers.borrow().is_empty(), "no headers");
    assert_eq!(status(&host), None);
    assert!(host
        .logs
        .borrow()
        .iter()
        .any(|(_, m)| m.starts_with("failed to get usage: ")));
    assert_eq!(host.metric("redis_rate_limiting.redis_errors"), 1);
    assert_eq!(host.metric("redis_rate_limiting.allowed"), 0);
    assert_eq!(host.metric("redis_rate_limiting.allowed_redis_down"), 1);
}

#[test]
fn an_outage_logs_one_line_a_second_with_the_count_of_the_others() {
    let (filter, host, _) = setup(r#"{"minute": 5, "policy": "redis"}"#, MockHost::default());
    for id in 0..5 {
        let (mut r, _) = request(&filter, &host, id);
        assert_eq!(
            r.on_redis(Step::Count.code(), Err(RedisError::Timeout)),
            Action::Continue
        );
    }
    assert_eq!(host.logs.borrow().len(), 1, "one line for the burst");
    host.now_ms.set(NOW_MS + 1000);
    let (mut r, _) = request(&filter, &host, 9);
    r.on_redis(Step::Count.code(), Err(RedisError::Timeout));
    let logs = host.logs.borrow();
    assert_eq!(logs.len(), 2);
    assert!(
        logs[1].1.ends_with("(4 more failures since the last line)"),
        "{}",
        logs[1].1
    );
    assert_eq!(
        host.metric("redis_rate_limiting.redis_errors"),
        6,
        "every failure counted"
    );
}

#[test]
fn redis_failing_answers_500_when_not_fault_tolerant() {
    let config = r#"{"minute": 5, "policy": "redis", "fault_tolerant": false}"#;
    let (filter, host, _) = setup(config, MockHost::default());
    let (mut r, _) = request(&filter, &host, 10);
    assert_eq!(
        r.on_redis(Step::Count.code(), Err(RedisError::Timeout)),
        Action::Pause
    );
    assert_eq!(status(&host), Some(500));
    assert_eq!(body(&host)["message"], "An unexpected error occurred");
    // A garbled reply is a failure too.
    let (mut r, _) = request(&filter, &host, 11);
    assert_eq!(
        r.on_redis(Step::Count.code(), Ok(vec![Reply::Int(1)])),
        Action::Pause
    );
    assert_eq!(status(&host), Some(500));
}

const EMPTY: &str = "00000000-0000-0000-0000-000000000000";

#[test]
fn kongs_route_scopes_the_keys_as_a_plugin_on_that_route_and_zeros_when_absent() {
    let route = "5a1a1a1a-0000-4000-8000-00000000000a";
    let service = "5b1b1b1b-0000-4000-8000-00000000000b";
    let host = MockHost::default()
        .with_property("kong.route_id", route)
        .with_property("kong.service_id", service)
        .with_property("redis_filters_consumer", r#"{"id": "alice"}"#);
    let (filter, host, redis) = setup(r#"{"minute": 5, "policy": "redis"}"#, host);
    request(&filter, &host, 10);
    let script = redis.submitted.borrow()[0].2[0].clone();
    assert!(
        script.contains(&format!("ratelimit:{route}:{EMPTY}:alice:")),
        "Kong's plugin on the route has no service in its key: {script}"
    );
    // A chain on a service names the service, as Kong's plugin on that service keys it.
    let host = MockHost::default()
        .with_property("kong.route_id", route)
        .with_property("redis_filters_consumer", r#"{"id": "alice"}"#);
    let config = format!(r#"{{"minute": 5, "policy": "redis", "service_id": "{service}"}}"#);
    let (filter, host, redis) = setup(&config, host);
    request(&filter, &host, 10);
    let script = redis.submitted.borrow()[0].2[0].clone();
    assert!(
        script.contains(&format!("ratelimit:{EMPTY}:{service}:alice:")),
        "{script}"
    );
    let host = MockHost::default().with_property("redis_filters_consumer", r#"{"id": "bob"}"#);
    let (filter, host, redis) = setup(r#"{"minute": 5, "policy": "redis"}"#, host);
    request(&filter, &host, 10);
    let script = redis.submitted.borrow()[0].2[0].clone();
    assert!(
        script.contains(&format!("ratelimit:{EMPTY}:{EMPTY}:bob:")),
        "{script}"
    );
}

#[test]
fn a_client_sent_consumer_header_is_not_an_identity() {
    let host = MockHost::default()
        .header("x-consumer-id", "alice")
        .with_property("source.address", "10.0.0.9:5555");
    let (filter, host, redis) = setup(r#"{"minute": 5, "policy": "redis"}"#, host);
    request(&filter, &host, 10);
    let script = redis.submitted.borrow()[0].2[0].clone();
    assert!(
        script.contains(":10.0.0.9:"),
        "counted by client address: {script}"
    );
}
