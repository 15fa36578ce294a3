use super::*;
use crate::config::{NodeAddr, RedisConfig};
use crate::job::{Pipeline, Request};
use crate::resp::{decode_replies, Command, Reply, ServerErrorKind};
use crate::script::Script;
use crate::shared_data::{SetError, SharedData};
use crate::topology::Standalone;
use crate::transport::calls::LOST_CALL_GRACE_MS;
use crate::transport::TlsAsk;
use serde_json::json;

/// A host that records calls and lets the test answer them, with shared data.
#[derive(Default)]
pub(super) struct FakeHost {
    pub next: u32,
    pub sent: Vec<(u32, String, Vec<u8>)>,
    pub refuse: bool,
    pub shared: crate::shared_data::Memory,
    /// The context whose callback "runs".
    pub current: u32,
}

impl SharedData for FakeHost {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        self.shared.set(key, value, cas)
    }
}

impl Dispatcher for FakeHost {
    fn current_context(&self) -> u32 {
        self.current
    }

    fn dispatch(
        &mut self,
        upstream: &str,
        node: &NodeAddr,
        body: Vec<u8>,
        _t: u32,
        _tls: Option<&TlsAsk>,
    ) -> Result<u32, String> {
        if self.refuse {
            return Err("bad upstream".into());
        }
        assert_eq!(upstream, "redis_tunnel");
        self.next += 1;
        self.sent.push((self.next, node.to_string(), body));
        Ok(self.next)
    }
}

impl FakeHost {
    pub fn last_token(&self) -> u32 {
        self.sent.last().unwrap().0
    }
    /// Number of commands in the last body (QUIT included).
    pub fn last_commands(&self) -> usize {
        let body = &self.sent.last().unwrap().2;
        (1..64).find(|n| decode_replies(body, *n).is_ok()).unwrap()
    }
}

fn mux(redis: serde_json::Value) -> Mux {
    let config = RedisConfig::parse(&redis).unwrap();
    let node = match &config.mode {
        crate::config::RedisMode::Standalone(n) => n.clone(),
        _ => unreachable!(),
    };
    Mux::new(
        MuxConfig::from_redis(&config),
        Framing::new(&config),
        Box::new(Standalone::new(node)),
    )
}

pub(super) fn ok(body: &str) -> CallResponse {
    CallResponse {
        status: Some(200),
        failure: None,
        body: body.as_bytes().to_vec(),
    }
}

pub(super) fn w(id: u32) -> Waiter {
    Waiter {
        context_id: id,
        tag: 0,
    }
}

pub(super) fn incr(key: &str) -> Box<dyn Job> {
    Box::new(Pipeline::commands(vec![Command::new("INCR").arg(key)]))
}

fn outcomes(m: &mut Mux) -> Vec<(u32, Outcome)> {
    let mut v: Vec<_> = m
        .take_finished()
        .into_iter()
        .map(|f| (f.waiter.context_id, f.outcome))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v
}

#[test]
fn low_load_sends_at_once_in_one_round_trip() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    assert!(matches!(
        m.submit(&mut h, 0, w(1), incr("a")),
        Submitted::Pending
    ));
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].1, "127.0.0.1:6379");
    m.on_response(&mut h, 1, 1, &ok(":1\r\n+OK\r\n"));
    assert_eq!(outcomes(&mut m), vec![(1, Ok(vec![Reply::Int(1)]))]);
}

#[test]
fn requests_arriving_during_a_call_leave_together_and_get_their_own_replies() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    m.submit(&mut h, 0, w(1), incr("a"));
    for id in 2..=4 {
        m.submit(&mut h, 0, w(id), incr("b"));
    }
    assert_eq!(h.sent.len(), 1, "queued while a call is in flight");
    m.on_response(&mut h, 1, 1, &ok(":1\r\n+OK\r\n"));
    assert_eq!(h.sent.len(), 2, "the queue leaves as one call");
    assert_eq!(h.last_commands(), 4); // 3 INCR + QUIT
    m.on_response(&mut h, 2, 2, &ok(":10\r\n:11\r\n:12\r\n+OK\r\n"));
    let got = outcomes(&mut m);
    assert_eq!(got[0], (1, Ok(vec![Reply::Int(1)])));
    assert_eq!(
        got[1..],
        [
            (2, Ok(vec![Reply::Int(10)])),
            (3, Ok(vec![Reply::Int(11)])),
            (4, Ok(vec![Reply::Int(12)]))
        ]
    );
    assert_eq!(m.stats().calls, 2);
    assert_eq!(m.stats().jobs, 4);
}

#[test]
fn jobs_submitted_while_held_leave_as_one_call_on_release() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    m.hold();
    for tag in 1..=2 {
        let waiter = Waiter { context_id: 1, tag };
        assert!(matches!(
            m.submit(&mut h, 0, waiter, incr("a")),
            Submitted::Pending
        ));
    }
    assert!(h.sent.is_empty(), "nothing leaves while held");
    m.release(&mut h, 0);
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.last_commands(), 3); // 2 INCR + QUIT
    m.on_response(&mut h, 0, 1, &ok(":1\r\n:2\r\n+OK\r\n"));
    let mut tags: Vec<_> = m.take_finished().iter().map(|f| f.waiter.tag).collect();
    tags.sort();
    assert_eq!(tags, vec![1, 2]);
}

#[test]
fn noscript_falls_back_to_eval_transparently() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    let script = Script::new("return 1");
    let job = Pipeline::new(vec![Request::script::<&str, &str>(&script, &["k"], &[])], 0);
    m.submit(&mut h, 0, w(1), Box::new(job));
    assert!(h.sent[0].2.windows(7).any(|x| x == b"EVALSHA"));
    m.on_response(
        &mut h,
        1,
        1,
        &ok("-NOSCRIPT No matching script.\r\n+OK\r\n"),
    );
    assert_eq!(h.sent.len(), 2);
    assert!(h.sent[1].2.windows(8).any(|x| x == b"return 1"));
    m.on_response(&mut h, 2, 2, &ok(":1\r\n+OK\r\n"));
    assert_eq!(outcomes(&mut m), vec![(1, Ok(vec![Reply::Int(1)]))]);
}

#[test]
fn auth_failure_fails_every_job_of_the_call() {
    let (mut m, mut h) = (mux(json!({"password": "wrong"})), FakeHost::default());
    m.submit(&mut h, 0, w(1), incr("a"));
    assert!(h.sent[0].2.starts_with(b"*2\r\n$4\r\nAUTH\r\n"));
    m.on_response(
        &mut h,
        1,
        1,
        &ok("-WRONGPASS invalid username-password pair\r\n-NOAUTH x\r\n+OK\r\n"),
    );
    let got = outcomes(&mut m);
    assert!(
        matches!(&got[0].1, Err(RedisError::Server(e)) if e.kind == ServerErrorKind::WrongPass)
    );
}

#[test]
fn non_200_truncated_and_garbled_answers_fail_the_jobs() {
    for (resp, want) in [
        (
            CallResponse {
                status: Some(503),
                failure: None,
                body: b"no healthy upstream".to_vec(),
            },
            "transport",
        ),
        (ok(":1"), "protocol"),
        (ok("HTTP/1.1 200 OK\r\n"), "protocol"),
        (
            CallResponse {
                status: None,
                failure: Some("timeout".into()),
                body: vec![],
            },
            "timeout",
        ),
    ] {
        let (mut m, mut h) = (mux(json!({})), FakeHost::default());
        m.submit(&mut h, 0, w(1), incr("a"));
        m.on_response(&mut h, 1, 1, &resp);
        let got = outcomes(&mut m);
        let kind = match &got[0].1 {
            Err(RedisError::Transport(_)) => "transport",
            Err(RedisError::Protocol(_)) => "protocol",
            Err(RedisError::Timeout) => "timeout",
            other => panic!("{other:?}"),
        };
        assert_eq!(kind, want);
    }
}

#[test]
fn a_queued_request_waits_at_most_the_timeout() {
    let (mut m, mut h) = (mux(json!({"timeout": 100})), FakeHost::default());
    m.submit(&mut h, 0, w(1), incr("a"));
    m.submit(&mut h, 50, w(2), incr("b"));
    m.on_tick(&mut h, 151);
    let got = outcomes(&mut m);
    assert_eq!(got, vec![(2, Err(RedisError::Timeout))]);
}

#[test]
fn a_call_the_host_never_answers_is_failed_and_the_node_freed() {
    let (mut m, mut h) = (mux(json!({"timeout": 100})), FakeHost::default());
    m.submit(&mut h, 0, w(1), incr("a"));
    m.on_tick(&mut h, 100 + LOST_CALL_GRACE_MS + 1);
    assert!(matches!(outcomes(&mut m)[0].1, Err(RedisError::Timeout)));
    m.submit(&mut h, 2000, w(2), incr("b"));
    assert_eq!(h.sent.len(), 2, "node is free again");
    // The late answer of the lost call is ignored.
    m.on_response(&mut h, 2001, 1, &ok(":1\r\n+OK\r\n"));
    assert!(outcomes(&mut m).is_empty());
}

#[test]
fn repeated_failures_back_off_then_probe() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    let down = CallResponse {
        status: Some(503),
        failure: None,
        body: vec![],
    };
    for i in 1..=3 {
        m.submit(&mut h, i, w(i as u32), incr("a"));
        let t = h.last_token();
        m.on_response(&mut h, i, t, &down);
    }
    m.take_finished();
    match m.submit(&mut h, 10, w(9), incr("a")) {
        Submitted::Done(Err(RedisError::Unavailable)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(h.sent.len(), 3, "no call while backing off");
    assert!(matches!(
        m.submit(&mut h, 1100, w(10), incr("a")),
        Submitted::Pending
    ));
    let t = h.last_token();
    m.on_response(&mut h, 1101, t, &ok(":1\r\n+OK\r\n"));
    assert!(matches!(
        m.submit(&mut h, 1102, w(11), incr("a")),
        Submitted::Pending
    ));
}

#[test]
fn queue_is_bounded() {
    let config = RedisConfig::parse(&json!({})).unwrap();
    let mut cfg = MuxConfig::from_redis(&config);
    cfg.max_queue = 2;
    let node = NodeAddr::new("127.0.0.1", 6379);
    let mut m = Mux::new(cfg, Framing::new(&config), Box::new(Standalone::new(node)));
    let mut h = FakeHost::default();
    m.submit(&mut h, 0, w(1), incr("a")); // in flight
    m.submit(&mut h, 0, w(2), incr("a"));
    m.submit(&mut h, 0, w(3), incr("a"));
    assert!(matches!(
        m.submit(&mut h, 0, w(4), incr("a")),
        Submitted::Done(Err(RedisError::Overloaded))
    ));
}

#[test]
fn batches_are_split_at_max_batch() {
    let config = RedisConfig::parse(&json!({})).unwrap();
    let mut cfg = MuxConfig::from_redis(&config);
    cfg.max_batch = 2;
    let node = NodeAddr::new("127.0.0.1", 6379);
    let mut m = Mux::new(cfg, Framing::new(&config), Box::new(Standalone::new(node)));
    let mut h = FakeHost::default();
    for id in 1..=4 {
        m.submit(&mut h, 0, w(id), incr("a"));
    }
    m.on_response(&mut h, 1, 1, &ok(":1\r\n+OK\r\n"));
    assert_eq!(h.last_commands(), 3); // 2 INCR + QUIT
    m.on_response(&mut h, 1, 2, &ok(":2\r\n:3\r\n+OK\r\n"));
    assert_eq!(h.last_commands(), 2);
}

#[test]
fn refused_dispatch_is_a_transport_error() {
    let (mut m, mut h) = (
        mux(json!({})),
        FakeHost {
            refuse: true,
            ..Default::default()
        },
    );
    assert!(matches!(
        m.submit(&mut h, 0, w(1), incr("a")),
        Submitted::Done(Err(RedisError::Transport(_)))
    ));
}

#[test]
fn a_context_that_went_away_does_not_disturb_the_others() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    m.submit(&mut h, 0, w(1), incr("a"));
    m.submit(&mut h, 0, w(2), incr("b"));
    m.submit(&mut h, 0, w(3), incr("c"));
    m.on_response(&mut h, 1, 1, &ok(":1\r\n+OK\r\n"));
    m.cancel(2); // in flight in call 2
    m.on_response(&mut h, 2, 2, &ok(":5\r\n:6\r\n+OK\r\n"));
    let got = outcomes(&mut m);
    assert_eq!(
        got,
        vec![(1, Ok(vec![Reply::Int(1)])), (3, Ok(vec![Reply::Int(6)]))]
    );
}

#[test]
fn empty_job_finishes_without_a_call() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    let r = m.submit(&mut h, 0, w(1), Box::new(Pipeline::commands(vec![])));
    assert!(matches!(r, Submitted::Done(Ok(v)) if v.is_empty()));
    assert!(h.sent.is_empty());
}

/// A pipeline of keys in many slots: one part per slot, one call for them all.
pub(super) fn many_keys(n: usize) -> Box<dyn Job> {
    let requests = (0..n)
        .map(|i| {
            let key = format!("key-{i}");
            Request::keyed(Command::new("INCR").arg(key.as_str()), &key)
        })
        .collect();
    Box::new(Pipeline::new(requests, 0))
}

#[test]
fn a_job_of_many_slots_leaves_as_one_call() {
    let (mut m, mut h) = (mux(json!({})), FakeHost::default());
    m.submit(&mut h, 0, w(1), many_keys(50));
    assert_eq!(
        h.sent.len(),
        1,
        "every part queued before the node is pumped"
    );
    let body: String = (1..=50).map(|i| format!(":{i}\r\n")).collect();
    m.on_response(&mut h, 1, 1, &ok(&format!("{body}+OK\r\n")));
    let done = outcomes(&mut m);
    assert!(matches!(&done[..], [(1, Ok(r))] if r.len() == 50 && r[49] == Reply::Int(50)));
}
