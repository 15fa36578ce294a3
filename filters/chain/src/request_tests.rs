//! The chain's request flow over fake filters whose requests follow a script.

use crate::chain::Chain;
use crate::host::Turn;
use redis_filter_core::filter_host::{FilterHost, MockHost};
use redis_filter_core::proxy::{Action, AnyFeature, Feature, HttpContext, RootContext};
use redis_filter_core::proxy::{FeatureRoot, TAG_SHIFT};
use redis_filter_core::Outcome;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Copy, PartialEq)]
enum Headers {
    Pass,
    Wait,
    Refuse,
}

#[derive(Clone, Copy)]
struct Script {
    headers: Headers,
    /// Its answer from Redis refuses the request.
    answer_refuses: bool,
    reads: bool,
    hands: bool,
    changes: bool,
    may_answer: bool,
}

const PASS: Script = Script {
    headers: Headers::Pass,
    answer_refuses: false,
    reads: false,
    hands: false,
    changes: false,
    may_answer: true,
};

fn wait() -> Script {
    Script {
        headers: Headers::Wait,
        ..PASS
    }
}

type Log = Rc<RefCell<Vec<String>>>;

struct Fake {
    name: &'static str,
    script: Script,
    host: Rc<dyn FilterHost>,
    log: Log,
}

struct FakeRequest(Rc<Fake>);

impl FakeRequest {
    fn note(&self, what: &str) {
        let f = &self.0;
        f.log.borrow_mut().push(format!("{}:{what}", f.name));
    }
    fn refuse(&self) -> Action {
        let status = if self.0.name == "a" { 401 } else { 429 };
        self.0
            .host
            .send_response(status, &[], self.0.name.as_bytes());
        Action::Pause
    }
}

impl HttpContext for FakeRequest {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.note("req");
        match self.0.script.headers {
            Headers::Pass => Action::Continue,
            Headers::Wait => Action::Pause,
            Headers::Refuse => self.refuse(),
        }
    }
    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.note("resp");
        Action::Continue
    }
    fn on_log(&mut self) {
        self.note("log");
    }
    fn may_answer(&self) -> bool {
        self.0.script.may_answer
    }
    fn on_redis(&mut self, tag: u32, _: Outcome) -> Action {
        self.note(&format!("redis{tag}"));
        if self.0.script.answer_refuses {
            return self.refuse();
        }
        Action::Continue
    }
}

impl Feature for Fake {
    const NAME: &'static str = "fake";
    fn build(_: u32, _: Rc<dyn FilterHost>, _: &[u8]) -> Result<Self, String> {
        Err("built by the test".into())
    }
    fn tick_ms(&self) -> u32 {
        0
    }
    fn request(filter: &Rc<Self>, _: u32) -> Box<dyn HttpContext> {
        Box::new(FakeRequest(filter.clone()))
    }
    fn reads_handed(&self) -> bool {
        self.script.reads
    }
    fn hands_on(&self) -> bool {
        self.script.hands
    }
    fn changes_state(&self) -> bool {
        self.script.changes
    }
    fn refuses(&self) -> bool {
        self.script.may_answer
    }
}

struct Setup {
    host: Rc<MockHost>,
    log: Log,
    ctx: Box<dyn HttpContext>,
}

fn chain(scripts: &[Script], per_context: bool) -> Setup {
    let host = Rc::new(MockHost::default());
    host.per_context.set(per_context);
    let log: Log = Rc::default();
    let (parts_host, turn): (Rc<dyn FilterHost>, Rc<Turn>) = Chain::host_for_parts(host.clone());
    let names = ["a", "b", "c"];
    let parts = scripts
        .iter()
        .zip(names)
        .map(|(script, name)| {
            Box::new(Rc::new(Fake {
                name,
                script: *script,
                host: parts_host.clone(),
                log: log.clone(),
            })) as Box<dyn AnyFeature>
        })
        .collect();
    let chain = Rc::new(Chain::of(parts, host.clone(), turn));
    let ctx = <Chain as Feature>::request(&chain, 7);
    Setup { host, log, ctx }
}

/// The tag the chain's filter number `i` gets back for its step 1.
fn tag(i: u32) -> u32 {
    ((i + 1) << TAG_SHIFT) | 1
}

fn log(s: &Setup) -> Vec<String> {
    s.log.borrow().clone()
}

fn answered(s: &Setup) -> Option<u32> {
    s.host.local_response.borrow().as_ref().map(|r| r.0)
}

#[test]
fn request_phases_run_in_order_and_response_phases_in_the_hosts_order() {
    for (per_context, response) in [(false, ["c", "b", "a"]), (true, ["a", "b", "c"])] {
        let mut s = chain(&[PASS, PASS, PASS], per_context);
        assert_eq!(s.ctx.on_request_headers(1, true), Action::Continue);
        assert_eq!(s.ctx.on_response_headers(1, false), Action::Continue);
        s.ctx.on_log();
        let mut want: Vec<String> = ["a", "b", "c"].iter().map(|n| format!("{n}:req")).collect();
        want.extend(response.iter().map(|n| format!("{n}:resp")));
        want.extend(response.iter().map(|n| format!("{n}:log")));
        assert_eq!(log(&s), want);
    }
}

#[test]
fn a_wait_pauses_the_phase_and_its_answer_goes_on_with_the_next_filter() {
    let reads = Script {
        reads: true,
        ..PASS
    };
    let mut s = chain(
        &[
            Script {
                hands: true,
                ..wait()
            },
            reads,
        ],
        false,
    );
    assert_eq!(s.ctx.on_request_headers(1, true), Action::Pause);
    assert_eq!(log(&s), ["a:req"], "b reads what a may hand on");
    assert_eq!(s.ctx.on_redis(tag(0), Ok(vec![])), Action::Continue);
    assert_eq!(log(&s), ["a:req", "a:redis1", "b:req"]);
}

#[test]
fn a_local_response_ends_the_request_phase() {
    let refuse = Script {
        headers: Headers::Refuse,
        ..PASS
    };
    let mut s = chain(&[refuse, PASS], false);
    assert_eq!(s.ctx.on_request_headers(1, true), Action::Pause);
    assert_eq!(answered(&s), Some(401));
    assert_eq!(log(&s), ["a:req"]);
    assert_eq!(s.ctx.on_request_body(1, true), Action::Pause);
    assert_eq!(log(&s), ["a:req"], "no request phase after the answer");
}

#[test]
fn independent_lookups_start_together_and_their_verdicts_come_in_order() {
    // b runs ahead of a; b's refusal comes first and waits for a's verdict.
    let refusing = Script {
        answer_refuses: true,
        ..wait()
    };
    let mut s = chain(&[wait(), refusing], false);
    assert_eq!(s.ctx.on_request_headers(1, true), Action::Pause);
    assert_eq!(log(&s), ["a:req", "b:req"], "both lookups in one callback");
    assert_eq!(s.ctx.on_redis(tag(1), Ok(vec![])), Action::Pause);
    assert_eq!(answered(&s), None, "b's response waits for a's verdict");
    assert_eq!(s.ctx.on_redis(tag(0), Ok(vec![])), Action::Pause);
    assert_eq!(answered(&s), Some(429), "a passed: b's response goes out");

    // a refuses: its response is the one the client gets; b's is dropped.
    let mut s = chain(&[refusing, refusing], false);
    assert_eq!(s.ctx.on_request_headers(1, true), Action::Pause);
    assert_eq!(s.ctx.on_redis(tag(0), Ok(vec![])), Action::Pause);
    assert_eq!(answered(&s), Some(401));
    assert_eq!(s.ctx.on_redis(tag(1), Ok(vec![])), Action::Pause);
    assert_eq!(answered(&s), Some(401));
}

#[test]
fn what_depends_on_an_earlier_verdict_waits_for_it() {
    let counts = Script {
        changes: true,
        ..wait()
    };
    // A count must not change for a request a may refuse...
    let mut s = chain(&[wait(), counts], false);
    s.ctx.on_request_headers(1, true);
    assert_eq!(log(&s), ["a:req"]);
    // ...and may when a cannot refuse (a session read that is no logout).
    let quiet = Script {
        may_answer: false,
        hands: true,
        ..wait()
    };
    let mut s = chain(&[quiet, counts], false);
    s.ctx.on_request_headers(1, true);
    assert_eq!(log(&s), ["a:req", "b:req"]);
    assert_eq!(
        s.ctx.on_redis(tag(1), Ok(vec![])),
        Action::Pause,
        "a still out"
    );
    assert_eq!(s.ctx.on_redis(tag(0), Ok(vec![])), Action::Continue);
    // Handing on a consumer after one that may hand one on would reverse who wins.
    let hands = Script {
        hands: true,
        ..PASS
    };
    let mut s = chain(&[quiet, hands], false);
    s.ctx.on_request_headers(1, true);
    assert_eq!(log(&s), ["a:req"]);
}

#[test]
fn an_answer_with_no_filter_of_the_chain_is_ignored() {
    let mut s = chain(&[wait()], false);
    s.ctx.on_request_headers(1, true);
    assert_eq!(
        s.ctx.on_redis(1, Ok(vec![])),
        Action::Pause,
        "still waiting"
    );
    assert_eq!(s.ctx.on_redis(tag(5), Ok(vec![])), Action::Pause);
    assert_eq!(s.ctx.on_redis(tag(0), Ok(vec![])), Action::Continue);
}

#[test]
fn a_bad_inner_config_is_refused_naming_its_place() {
    let host = Rc::new(MockHost::default());
    let mut root = FeatureRoot::<Chain>::with_host(1, host.clone());
    let raw = br#"{"filters": [{"name": "redis-rate-limiting", "config": {"minute": -1}}]}"#;
    assert!(!root.on_configure(Some(raw.to_vec())));
    let logs = host.logs.borrow();
    assert!(logs[0].1.contains("filters[0].config.minute"), "{logs:?}");
}

#[test]
fn a_filter_that_must_wait_lets_later_independent_ones_start() {
    // A session read (cannot refuse, hands on a consumer), an authentication that never
    // refuses (anonymous) but hands one on, then a count by address: the count starts with the
    // read; the authentication waits for the session's verdict.
    let session = Script {
        may_answer: false,
        hands: true,
        ..wait()
    };
    let anonymous = Script {
        may_answer: false,
        hands: true,
        ..PASS
    };
    let by_address = Script {
        changes: true,
        ..wait()
    };
    let mut s = chain(&[session, anonymous, by_address], false);
    assert_eq!(s.ctx.on_request_headers(1, true), Action::Pause);
    assert_eq!(log(&s), ["a:req", "c:req"]);
    assert_eq!(
        s.ctx.on_redis(tag(0), Ok(vec![])),
        Action::Pause,
        "c still out"
    );
    assert_eq!(log(&s), ["a:req", "c:req", "a:redis1", "b:req"]);
    assert_eq!(s.ctx.on_redis(tag(2), Ok(vec![])), Action::Continue);
    // An authentication that may refuse keeps the count waiting.
    let refusing = Script {
        hands: true,
        ..PASS
    };
    let mut s = chain(&[session, refusing, by_address], false);
    s.ctx.on_request_headers(1, true);
    assert_eq!(log(&s), ["a:req"]);
}
