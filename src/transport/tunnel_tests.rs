use super::*;
use crate::resp::ServerErrorKind;
use serde_json::json;

fn framing(v: serde_json::Value) -> Framing {
    Framing::new(&RedisConfig::parse(&v).unwrap())
}

fn ok(body: &[u8]) -> CallResponse {
    CallResponse {
        status: Some(200),
        failure: None,
        body: body.to_vec(),
    }
}

#[test]
fn body_is_auth_select_commands_quit() {
    let f = framing(json!({"password": "pw", "username": "u", "database": 2}));
    let body = f.body([&Command::new("PING")]);
    let expected = b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n";
    assert_eq!(body, expected.to_vec());
}

#[test]
fn no_auth_no_select_by_default() {
    let f = framing(json!({}));
    assert_eq!(
        f.body([&Command::new("PING")]),
        b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n".to_vec()
    );
}

#[test]
fn preamble_and_quit_replies_are_stripped() {
    let f = framing(json!({"password": "pw", "database": 1}));
    let r = f.replies(&ok(b"+OK\r\n+OK\r\n:5\r\n+OK\r\n"), 1).unwrap();
    assert_eq!(r, vec![Reply::Int(5)]);
    // QUIT's reply may be missing.
    assert_eq!(
        f.replies(&ok(b"+OK\r\n+OK\r\n:5\r\n"), 1).unwrap(),
        vec![Reply::Int(5)]
    );
}

#[test]
fn auth_failure_fails_the_exchange_with_its_kind() {
    let f = framing(json!({"password": "bad"}));
    let e = f
        .replies(&ok(b"-WRONGPASS invalid username-password pair\r\n-NOAUTH Authentication required.\r\n+OK\r\n"), 1)
        .unwrap_err();
    assert!(matches!(e, RedisError::Server(s) if s.kind == ServerErrorKind::WrongPass));
}

#[test]
fn non_200_and_timeouts_are_transport_errors() {
    let f = framing(json!({}));
    let resp = CallResponse {
        status: Some(503),
        failure: None,
        body: b"upstream connect error".to_vec(),
    };
    assert!(matches!(f.replies(&resp, 1), Err(RedisError::Transport(m)) if m.contains("503")));
    let resp = CallResponse {
        status: None,
        failure: Some("timeout".into()),
        body: vec![],
    };
    assert_eq!(f.replies(&resp, 1), Err(RedisError::Timeout));
    let resp = CallResponse {
        status: Some(504),
        failure: None,
        body: vec![],
    };
    assert_eq!(f.replies(&resp, 1), Err(RedisError::Timeout));
    let resp = CallResponse {
        status: None,
        failure: Some("broken connection".into()),
        body: vec![],
    };
    assert!(matches!(f.replies(&resp, 1), Err(RedisError::Transport(_))));
}

#[test]
fn truncated_and_garbled_bodies_are_protocol_errors() {
    let f = framing(json!({}));
    assert!(matches!(
        f.replies(&ok(b":1\r\n"), 2),
        Err(RedisError::Protocol(_))
    ));
    assert!(matches!(
        f.replies(&ok(b":1\r\n:2\r\n:3\r\n"), 1),
        Err(RedisError::Protocol(_))
    ));
    assert!(matches!(
        f.replies(&ok(b"\x00\x01garbage"), 1),
        Err(RedisError::Protocol(_))
    ));
}

#[test]
fn headers_name_the_node_and_the_time_budget() {
    let node = NodeAddr::new("10.1.2.3", 6380);
    let h = Framing::headers(&node, 1500, None);
    assert!(h.contains(&(":authority", "10.1.2.3:6380".to_string())));
    assert!(h.contains(&(":method", "POST".to_string())));
    assert!(h.contains(&("x-redis-timeout", "1500".to_string())));
    assert!(!h.iter().any(|(k, _)| k.starts_with("x-redis-tls")));
}

#[test]
fn tls_is_asked_per_call_as_the_config_says() {
    let v = |j: &str| RedisConfig::parse(&serde_json::from_str(j).unwrap()).unwrap();
    assert_eq!(TlsAsk::from_config(&v(r#"{"ssl_verify": true}"#)), None);
    let ask = TlsAsk::from_config(&v(
        r#"{"ssl": true, "ssl_verify": true, "server_name": "r.test"}"#,
    ));
    let node = NodeAddr::new("10.1.2.3", 6380);
    let h = Framing::headers(&node, 1500, ask.as_ref());
    assert!(h.contains(&("x-redis-tls", "verify".to_string())));
    assert!(h.contains(&("x-redis-server-name", "r.test".to_string())));
    let ask = TlsAsk::from_config(&v(r#"{"ssl": true}"#));
    let h = Framing::headers(&node, 1500, ask.as_ref());
    assert!(h.contains(&("x-redis-tls", "on".to_string())));
    assert!(!h.iter().any(|(k, _)| *k == "x-redis-server-name"));
}

#[test]
fn a_sentinel_without_quit_ends_with_an_error_line() {
    let f = Framing::bare();
    let body = b"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n1\r\n-ERR unknown command 'QUIT', with args beginning with: \r\n";
    let response = CallResponse {
        status: Some(200),
        failure: None,
        body: body.to_vec(),
    };
    assert_eq!(f.replies(&response, 1).unwrap().len(), 1);
    let garbled = CallResponse {
        body: b":1\r\n-ERR a\r\n:2\r\n".to_vec(),
        ..response
    };
    assert!(f.replies(&garbled, 1).is_err());
}
