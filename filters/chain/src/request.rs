//! A request through the chain. Each phase runs the filters in the host's order for it: the
//! request phases in the chain's order, the response phases in the chain's (Kong's engine) or
//! the reverse (Envoy's encoder path). A filter that waits on Redis pauses the phase, which goes
//! on from its answer; a local response ends the request phases.
//!
//! While a filter's request headers wait on Redis, the filters after it start theirs in the same
//! callback when nothing they do depends on its verdict, so their commands leave in the same
//! pipeline: not when they read (or hand on) a consumer it may hand on, nor when they change
//! state (a count) and it may still refuse the request. A filter that cannot start waits for its
//! turn, and counts as one more such filter for those after it. The verdicts are still taken in
//! order:
//! a response of a filter that ran ahead waits for its turn, and is never sent if an earlier
//! filter answers.

use crate::chain::Chain;
use crate::tags::{as_part, split, Hold};
use redis_filter_core::filter_host::{LocalResponse, LogLevel};
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::Outcome;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    RequestHeaders(usize, bool),
    RequestBody(usize, bool),
    ResponseHeaders(usize, bool),
    ResponseBody(usize, bool),
}

impl Phase {
    fn run(self, part: &mut dyn HttpContext) -> Action {
        match self {
            Phase::RequestHeaders(n, end) => part.on_request_headers(n, end),
            Phase::RequestBody(n, end) => part.on_request_body(n, end),
            Phase::ResponseHeaders(n, end) => part.on_response_headers(n, end),
            Phase::ResponseBody(n, end) => part.on_response_body(n, end),
        }
    }

    fn is_response(self) -> bool {
        matches!(self, Phase::ResponseHeaders(..) | Phase::ResponseBody(..))
    }
}

/// Where a filter is in the phase running.
#[derive(Debug)]
enum Status {
    Idle,
    Waiting,
    Done,
    /// It answered before its turn; the response goes out when its turn comes.
    Held(LocalResponse),
}

/// What a call into a filter came to.
enum Turned {
    Continue,
    Waiting,
    /// It answered the request.
    Answered,
    Held(LocalResponse),
}

pub struct ChainRequest {
    id: u32,
    chain: Rc<Chain>,
    parts: Vec<Box<dyn HttpContext>>,
    status: Vec<Status>,
    /// The phase running, and the place in its order of the first filter not done.
    phase: Option<Phase>,
    pos: usize,
    answered: bool,
}

impl ChainRequest {
    pub fn new(id: u32, chain: Rc<Chain>) -> Self {
        let parts = chain.parts.iter().map(|p| p.request(id)).collect();
        let status = chain.parts.iter().map(|_| Status::Idle).collect();
        Self {
            id,
            chain,
            parts,
            status,
            phase: None,
            pos: 0,
            answered: false,
        }
    }

    /// The filters in the order the host runs them in `phase`.
    fn order(&self, phase: Phase) -> Vec<usize> {
        if phase.is_response() {
            self.response_order()
        } else {
            (0..self.parts.len()).collect()
        }
    }

    /// The host's order for the response phases and the log: the chain's in Kong's engine,
    /// the reverse in Envoy.
    fn response_order(&self) -> Vec<usize> {
        let n = self.parts.len();
        if self.chain.host.resumes_only_itself() {
            (0..n).collect()
        } else {
            (0..n).rev().collect()
        }
    }

    fn start(&mut self, phase: Phase) -> Action {
        if self.answered && !phase.is_response() {
            return Action::Pause;
        }
        let _hold = Hold::new();
        self.phase = Some(phase);
        self.pos = 0;
        for s in &mut self.status {
            *s = Status::Idle;
        }
        self.advance()
    }

    /// Calls filter `i` (`front` being the first whose verdict is not in).
    fn call(
        &mut self,
        i: usize,
        front: usize,
        f: impl FnOnce(&mut dyn HttpContext) -> Action,
    ) -> Turned {
        let turn = self.chain.turn.clone();
        turn.enter(self.id, i, front, self.answered);
        let action = match self.parts.get_mut(i) {
            Some(part) => as_part(i, || f(part.as_mut())),
            None => Action::Continue,
        };
        let (sent, held) = turn.leave();
        if sent {
            self.answered = true;
            return Turned::Answered;
        }
        match (held, action) {
            (Some(response), _) => Turned::Held(response),
            (None, Action::Continue) => Turned::Continue,
            (None, Action::Pause) => Turned::Waiting,
        }
    }

    /// Sends a held response: its filter's turn has come.
    fn send(&mut self, (status, headers, body): LocalResponse) -> Action {
        self.answered = true;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !self.chain.host.send_response(status, &headers, &body) {
            self.chain
                .host
                .log(LogLevel::Error, "redis-chain: the host refused a response");
        }
        Action::Pause
    }

    fn set(&mut self, i: usize, status: Status) {
        if let Some(s) = self.status.get_mut(i) {
            *s = status;
        }
    }

    /// Runs the phase on from the first filter not done; Continue once all are.
    fn advance(&mut self) -> Action {
        let Some(phase) = self.phase else {
            return Action::Continue;
        };
        let order = self.order(phase);
        while let Some(&i) = order.get(self.pos) {
            let status = self
                .status
                .get_mut(i)
                .map(|s| std::mem::replace(s, Status::Done));
            match status {
                Some(Status::Done) | None => self.pos += 1,
                Some(Status::Waiting) => {
                    self.set(i, Status::Waiting);
                    return Action::Pause;
                }
                Some(Status::Held(response)) => return self.send(response),
                Some(Status::Idle) => match self.call(i, i, |p| phase.run(p)) {
                    Turned::Continue => self.pos += 1,
                    Turned::Answered => return Action::Pause,
                    Turned::Held(response) => return self.send(response),
                    Turned::Waiting => {
                        self.set(i, Status::Waiting);
                        if let Phase::RequestHeaders(..) = phase {
                            self.run_ahead(&order, phase);
                        }
                        return Action::Pause;
                    }
                },
            }
        }
        self.phase = None;
        Action::Continue
    }

    /// The filters after the waiting one whose request headers need not wait for its verdict
    /// start now (see the module's doc).
    fn run_ahead(&mut self, order: &[usize], phase: Phase) {
        let Some(&front) = order.get(self.pos) else {
            return;
        };
        let mut may_refuse = self.parts.get(front).is_some_and(|p| p.may_answer());
        let mut may_hand_on = self.chain.parts.get(front).is_some_and(|p| p.hands_on());
        for &i in order.iter().skip(self.pos + 1) {
            if !matches!(self.status.get(i), Some(Status::Idle)) {
                break;
            }
            let Some(feature) = self.chain.parts.get(i) else {
                break;
            };
            let (reads, hands, changes) = (
                feature.reads_handed(),
                feature.hands_on(),
                feature.changes_state(),
            );
            if ((reads || hands) && may_hand_on) || (changes && may_refuse) {
                // It waits for its turn; the filters after it may still start, if nothing
                // it may do (refuse, hand on a consumer) matters to them either.
                may_refuse |= feature.refuses();
                may_hand_on |= hands;
                continue;
            }
            match self.call(i, front, |p| phase.run(p)) {
                Turned::Continue => self.set(i, Status::Done),
                Turned::Answered => return,
                Turned::Held(response) => {
                    self.set(i, Status::Held(response));
                    return;
                }
                Turned::Waiting => {
                    self.set(i, Status::Waiting);
                    may_refuse |= self.parts.get(i).is_some_and(|p| p.may_answer());
                    may_hand_on |= hands;
                }
            }
        }
    }

    /// Every filter, in the host's response order, for a callback that cannot pause.
    fn each(&mut self, f: impl Fn(&mut dyn HttpContext)) {
        for i in self.response_order() {
            self.call(i, i, |p| {
                f(p);
                Action::Continue
            });
        }
    }
}

impl HttpContext for ChainRequest {
    fn on_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        self.chain.turn.prime(self.id, self.chain.host.as_ref());
        self.start(Phase::RequestHeaders(num_headers, end_of_stream))
    }

    fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.start(Phase::RequestBody(body_size, end_of_stream))
    }

    fn on_response_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        self.start(Phase::ResponseHeaders(num_headers, end_of_stream))
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.start(Phase::ResponseBody(body_size, end_of_stream))
    }

    fn on_log(&mut self) {
        self.each(|p| p.on_log());
    }

    fn may_answer(&self) -> bool {
        self.parts.iter().any(|p| p.may_answer())
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        self.chain.turn.waited(self.id);
        let Some((i, tag)) = split(tag).filter(|(i, _)| *i < self.parts.len()) else {
            self.chain
                .host
                .log(LogLevel::Debug, "redis-chain: an answer for no filter");
            return self.still();
        };
        let _hold = Hold::new();
        let front = self
            .phase
            .and_then(|p| self.order(p).get(self.pos).copied())
            .unwrap_or(i);
        let turned = self.call(i, front, |p| p.on_redis(tag, outcome));
        if self.answered {
            return Action::Pause;
        }
        match turned {
            Turned::Continue => {
                if matches!(self.status.get(i), Some(Status::Waiting)) {
                    self.set(i, Status::Done);
                }
            }
            Turned::Waiting => {}
            Turned::Answered => return Action::Pause,
            Turned::Held(response) => self.set(i, Status::Held(response)),
        }
        self.advance()
    }
}

impl ChainRequest {
    /// Whether the request stays paused as it is.
    fn still(&self) -> Action {
        if self.answered || self.phase.is_some() {
            Action::Pause
        } else {
            Action::Continue
        }
    }
}

impl Drop for ChainRequest {
    fn drop(&mut self) {
        self.chain.turn.forget(self.id);
    }
}
