//! The multiplexer in a host where a context acts only for itself (`Affinity::PerContext`,
//! Kong's engine): each context's work leaves in calls it dispatches from its own callbacks,
//! and finishes only there.

use super::tests::{incr, many_keys, ok, w, FakeHost};
use super::*;
use crate::config::RedisConfig;
use crate::job::Pipeline;
use crate::topology;
use crate::transport::calls::LOST_CALL_GRACE_MS;
use serde_json::json;

const ROOT: u32 = 1;

fn mux(redis: serde_json::Value) -> Mux {
    let config = RedisConfig::parse(&redis).unwrap();
    let mut m = Mux::new(
        MuxConfig::from_redis(&config),
        Framing::new(&config),
        topology::from_config(&config),
    )
    .with_sentinel_framing(Framing::sentinel(&config))
    .with_root(ROOT);
    m.set_affinity(Affinity::PerContext);
    m
}

/// Submits for `ctx` from `ctx`'s own callback.
fn submit(m: &mut Mux, h: &mut FakeHost, now: u64, ctx: u32, job: Box<dyn Job>) -> Submitted {
    h.current = ctx;
    m.submit(h, now, w(ctx), job)
}

/// Delivers call `token`'s answer in `ctx`'s callback; returns who finished.
fn answer(m: &mut Mux, h: &mut FakeHost, ctx: u32, token: u32, body: &str) -> Vec<u32> {
    h.current = ctx;
    m.on_response(h, 0, token, &ok(body));
    m.take_finished()
        .into_iter()
        .map(|f| f.waiter.context_id)
        .collect()
}

#[test]
fn concurrent_requests_each_send_their_own_call_and_finish_in_their_own_callback() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    submit(&mut m, &mut h, 0, 10, incr("a"));
    submit(&mut m, &mut h, 0, 11, incr("b"));
    submit(&mut m, &mut h, 0, 12, incr("c"));
    assert_eq!(h.sent.len(), 3, "nobody queues behind another's call");
    assert_eq!(m.calls_in_flight(), 3);
    assert_eq!(answer(&mut m, &mut h, 11, 2, ":1\r\n+OK\r\n"), vec![11]);
    assert_eq!(answer(&mut m, &mut h, 12, 3, ":1\r\n+OK\r\n"), vec![12]);
    assert_eq!(answer(&mut m, &mut h, 10, 1, ":1\r\n+OK\r\n"), vec![10]);
    assert_eq!(m.calls_in_flight(), 0);
    assert_eq!(m.jobs_pending(), 0);
}

#[test]
fn a_job_of_many_slots_leaves_as_one_call_not_one_per_slot() {
    // rate limiting's sync_rate flush: 1,000 keys, one part per slot; one call per part made
    // 1,000 connections to Kong's bridge every flush.
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    submit(&mut m, &mut h, 0, ROOT, many_keys(1000));
    assert_eq!(h.sent.len(), 1);
    let body: String = (1..=1000).map(|i| format!(":{i}\r\n")).collect();
    assert_eq!(
        answer(&mut m, &mut h, ROOT, 1, &format!("{body}+OK\r\n")),
        vec![ROOT]
    );
}

#[test]
fn noscript_retries_from_the_same_context() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    let script = crate::Script::new("return 1");
    let job = Pipeline::new(
        vec![crate::job::Request::script::<&str, &str>(
            &script,
            &["k"],
            &[],
        )],
        0,
    );
    submit(&mut m, &mut h, 0, 10, Box::new(job));
    submit(&mut m, &mut h, 0, 11, incr("b"));
    assert!(answer(&mut m, &mut h, 10, 1, "-NOSCRIPT x\r\n+OK\r\n").is_empty());
    assert_eq!(
        h.sent.len(),
        3,
        "the EVAL left at once, from context 10's callback"
    );
    assert_eq!(answer(&mut m, &mut h, 10, 3, ":1\r\n+OK\r\n"), vec![10]);
    assert_eq!(answer(&mut m, &mut h, 11, 2, ":1\r\n+OK\r\n"), vec![11]);
}

#[test]
fn the_roots_tick_never_expires_another_contexts_work() {
    let (mut m, mut h) = (mux(json!({"timeout": 100})), FakeHost::default());
    submit(&mut m, &mut h, 0, 10, incr("a"));
    h.current = ROOT;
    m.on_tick(&mut h, 100 + LOST_CALL_GRACE_MS + 1);
    assert!(
        m.take_finished().is_empty(),
        "only the host can answer 10's call"
    );
    // The root's own work (a sync flush) is expired by the root.
    submit(&mut m, &mut h, 0, ROOT, incr("b"));
    h.current = ROOT;
    m.on_tick(&mut h, 100 + LOST_CALL_GRACE_MS + 1);
    let done: Vec<u32> = m
        .take_finished()
        .iter()
        .map(|f| f.waiter.context_id)
        .collect();
    assert_eq!(done, vec![ROOT]);
}

#[test]
fn a_context_that_goes_away_leaves_nothing_behind() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    submit(&mut m, &mut h, 0, 10, incr("a"));
    m.cancel(10);
    assert_eq!(m.calls_in_flight(), 0);
    assert_eq!(m.jobs_pending(), 0);
    assert!(
        answer(&mut m, &mut h, 10, 1, ":1\r\n+OK\r\n").is_empty(),
        "late answer ignored"
    );
}

#[test]
fn a_failed_call_is_heard_by_its_own_context_only() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    submit(&mut m, &mut h, 0, 10, incr("a"));
    submit(&mut m, &mut h, 0, 11, incr("b"));
    h.current = 10;
    let timeout = CallResponse {
        status: Some(504),
        ..CallResponse::default()
    };
    m.on_response(&mut h, 0, 1, &timeout);
    let f = m.take_finished();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].waiter.context_id, 10);
    assert!(matches!(f[0].outcome, Err(RedisError::Timeout)));
}

const MASTER_6380: &str = "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n+OK\r\n";
const ROLE_MASTER: &str = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n";

fn sentinel() -> Mux {
    mux(json!({
        "sentinel_master": "mymaster",
        "sentinel_role": "master",
        "sentinel_nodes": [{"host": "127.0.0.1", "port": 26379}],
    }))
}

#[test]
fn each_waiting_context_runs_its_own_sentinel_lookup() {
    let (mut m, mut h) = (sentinel(), FakeHost::default());
    submit(&mut m, &mut h, 0, 10, incr("a"));
    submit(&mut m, &mut h, 0, 11, incr("b"));
    assert_eq!(h.sent.len(), 2, "two lookups, one per context");
    assert!(h.sent.iter().all(|(_, node, _)| node == "127.0.0.1:26379"));
    // Context 10's lookup: SENTINEL get-master-addr-by-name, then ROLE, then its INCR.
    assert!(answer(&mut m, &mut h, 10, 1, MASTER_6380).is_empty());
    assert_eq!(h.sent.last().unwrap().1, "127.0.0.1:6380");
    assert!(answer(&mut m, &mut h, 10, 3, ROLE_MASTER).is_empty());
    let (token, node, _) = h.sent.last().unwrap().clone();
    assert_eq!(node, "127.0.0.1:6380", "10's INCR left from 10's callback");
    assert_eq!(h.sent.len(), 4, "11's part still waits for 11's own lookup");
    assert_eq!(answer(&mut m, &mut h, 10, token, ":1\r\n+OK\r\n"), vec![10]);
    // A third context finds the master known and goes straight there.
    submit(&mut m, &mut h, 0, 12, incr("c"));
    assert_eq!(h.sent.last().unwrap().1, "127.0.0.1:6380");
    // 11's lookup answers: it re-routes its own part in its own callback.
    assert!(answer(&mut m, &mut h, 11, 2, MASTER_6380).is_empty());
    let n = h.sent.len();
    let t = h.sent.last().unwrap().0;
    assert!(answer(&mut m, &mut h, 11, t, ROLE_MASTER).is_empty());
    assert_eq!(h.sent.len(), n + 1);
    let t = h.sent.last().unwrap().0;
    assert_eq!(answer(&mut m, &mut h, 11, t, ":2\r\n+OK\r\n"), vec![11]);
}

#[test]
fn one_contexts_jobs_submitted_while_held_leave_as_one_call() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    m.hold();
    submit(&mut m, &mut h, 0, 5, incr("a"));
    submit(&mut m, &mut h, 0, 5, incr("b"));
    assert!(h.sent.is_empty());
    m.release(&mut h, 0);
    assert_eq!(h.sent.len(), 1, "one call for both");
    assert_eq!(
        answer(&mut m, &mut h, 5, 1, ":1\r\n:1\r\n+OK\r\n"),
        vec![5, 5]
    );
}
