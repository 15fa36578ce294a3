//! Kong's engine's newline after a local body (engine bug 6): a Hit takes it back in its
//! response phases, by the size of the chunk, and a host that will not let it go gets requests
//! sent upstream instead.

use super::*;

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Stores `body` (a Miss), then answers a second request from the cache the way Kong's engine
/// sends a local response: the body with LF and `Content-Length` one more, then the response
/// phases, the body chunk's `end_of_stream` as `eof`. The context and the body that went out.
fn hit_through_the_engine(host: &Rc<MockHost>, body: &[u8], eof: bool) -> (CacheRequest, Vec<u8>) {
    let filter = setup_on(host);
    let (mut ctx, _) = run(&filter, host, "GET", "/n", &[]);
    respond(&mut ctx, host, 200, JSON, body);
    let (mut ctx, action) = run(&filter, host, "GET", "/n", &[]);
    assert_eq!(action, Action::Pause, "a Hit");
    let (status, headers, sent) = local(host).unwrap();
    assert_eq!(
        sent, body,
        "the local response carries the stored body as it is"
    );
    let mut out = sent.clone();
    out.push(b'\n');
    {
        let mut h = host.response_headers.borrow_mut();
        h.clear();
        h.push((":status".into(), status.to_string()));
        h.extend(headers);
        h.push(("content-length".into(), out.len().to_string()));
    }
    *host.response_body.borrow_mut() = out.clone();
    assert_eq!(ctx.on_response_headers(0, false), Action::Continue);
    assert_eq!(ctx.on_response_body(out.len(), eof), Action::Continue);
    // The engine calls again with nothing once the client's socket would block.
    assert_eq!(ctx.on_response_body(0, true), Action::Continue);
    let went = host.response_body.borrow().clone();
    (ctx, went)
}

fn setup_on(host: &Rc<MockHost>) -> Rc<Filter> {
    let config = Config::parse(br#"{"strategy": "memory", "content_type": ["*/*"]}"#).unwrap();
    Rc::new(Filter::with_host(config, host.clone(), None, ROOT))
}

fn kong_host() -> Rc<MockHost> {
    let host = Rc::new(MockHost::default());
    host.now_ms.set(NOW_MS);
    host.newline_after_local_body.set(true);
    host
}

#[test]
fn a_hit_takes_back_the_engines_newline_by_the_chunks_size_whatever_end_of_stream_says() {
    let bodies: [&[u8]; 4] = [PNG, b"no newline at the end", b"ends with one\n", b"x"];
    for body in bodies {
        for eof in [true, false] {
            let host = kong_host();
            let (_, went) = hit_through_the_engine(&host, body, eof);
            assert_eq!(went, body, "eof {eof}");
            let length = host.response_header("content-length");
            assert_eq!(length, Some(body.len().to_string()), "eof {eof}");
            assert!(host.logs.borrow().iter().all(|(l, _)| *l < LogLevel::Error));
        }
    }
}

#[test]
fn a_head_hit_has_no_body_and_nothing_to_take_back() {
    let host = kong_host();
    let filter = setup_on(&host);
    let (mut ctx, _) = run(&filter, &host, "HEAD", "/h", &[]);
    respond(&mut ctx, &host, 200, JSON, b"");
    let (mut ctx, action) = run(&filter, &host, "HEAD", "/h", &[]);
    assert_eq!(action, Action::Pause);
    host.next_request();
    ctx.on_response_headers(0, false);
    assert_eq!(host.response_header("content-length"), None);
}

#[test]
fn where_the_newline_cannot_be_taken_back_cached_bodies_go_upstream_as_bypass() {
    let host = kong_host();
    host.refuse_body_cut.set(true);
    let (_, _) = hit_through_the_engine(&host, PNG, true);
    let errors: Vec<String> = host
        .logs
        .borrow()
        .iter()
        .filter(|(l, _)| *l == LogLevel::Error)
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("could not be taken back"), "{errors:?}");
}

#[test]
fn after_a_refused_cut_the_worker_bypasses_the_cache_for_non_empty_bodies() {
    let host = kong_host();
    let filter = setup_on(&host);
    filter.newline_stays.set(true);
    let (mut ctx, _) = run(&filter, &host, "GET", "/b", &[]);
    respond(&mut ctx, &host, 200, JSON, PNG);
    let (mut ctx, action) = run(&filter, &host, "GET", "/b", &[]);
    assert_eq!(action, Action::Continue, "upstream, not a local response");
    assert!(local(&host).is_none());
    respond(&mut ctx, &host, 200, JSON, PNG);
    let status = host.response_header("X-Cache-Status");
    assert_eq!(status.as_deref(), Some("Bypass"));
}

#[test]
fn envoy_sends_the_body_as_given_and_nothing_is_cut() {
    let host = Rc::new(MockHost::default());
    host.now_ms.set(NOW_MS);
    let filter = setup_on(&host);
    let (mut ctx, _) = run(&filter, &host, "GET", "/e", &[]);
    respond(&mut ctx, &host, 200, JSON, PNG);
    let (mut ctx, _) = run(&filter, &host, "GET", "/e", &[]);
    assert_eq!(local(&host).unwrap().2, PNG);
    host.next_request();
    *host.response_body.borrow_mut() = PNG.to_vec();
    ctx.on_response_headers(0, false);
    ctx.on_response_body(PNG.len(), true);
    assert_eq!(host.response_header("content-length"), None);
    assert_eq!(host.response_body.borrow().as_slice(), PNG);
}

/// An engine with bug 6 fixed sends the body as given: the chunk is the body's length, nothing
/// is cut, nothing logged, and the worker keeps serving Hits (no Bypass).
#[test]
fn an_engine_without_the_newline_gets_the_body_as_is_and_hits_go_on() {
    let host = kong_host();
    let filter = setup_on(&host);
    let (mut ctx, _) = run(&filter, &host, "GET", "/f", &[]);
    respond(&mut ctx, &host, 200, JSON, PNG);
    let (mut ctx, action) = run(&filter, &host, "GET", "/f", &[]);
    assert_eq!(action, Action::Pause, "a Hit");
    host.next_request();
    *host.response_body.borrow_mut() = PNG.to_vec();
    ctx.on_response_headers(0, false);
    ctx.on_response_body(PNG.len(), true);
    assert_eq!(*host.response_body.borrow(), PNG);
    assert!(host.logs.borrow().iter().all(|(l, _)| *l < LogLevel::Error));
    assert!(!filter.newline_stays.get(), "the next Hit is served");
}
