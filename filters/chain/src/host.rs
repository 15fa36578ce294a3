//! The host the chain's filters see: the real one, but for three things. A local response from
//! a filter whose turn has not come (it ran ahead while an earlier one waits on Redis) is held
//! until its turn; a filter's response after the chain has answered is dropped; and the
//! consumer handed on is read back from memory (it is still written to the host, for what comes
//! after the chain).

use redis_filter_core::fast_hash::FastMap;
use redis_filter_core::filter_host::{FilterHost, LocalResponse, LogLevel};
use redis_filter_core::identity;
use redis_filter_core::shared_data::SharedData;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Whose turn it is: set by the chain around every call into one of its filters.
#[derive(Default)]
pub struct Turn {
    context: Cell<u32>,
    /// The filter running.
    current: Cell<usize>,
    /// The first filter of the phase whose verdict is not in yet.
    front: Cell<usize>,
    /// The request is answered already.
    answered: Cell<bool>,
    /// The running filter answered the request.
    sent: Cell<bool>,
    /// The running filter's response, held for its turn.
    held: RefCell<Option<LocalResponse>>,
    /// The consumer handed on, per request.
    consumers: RefCell<FastMap<u32, String>>,
}

impl Turn {
    pub fn enter(&self, context: u32, current: usize, front: usize, answered: bool) {
        self.context.set(context);
        self.current.set(current);
        self.front.set(front);
        self.answered.set(answered);
        self.sent.set(false);
        self.held.borrow_mut().take();
    }

    /// What the filter that ran did: answered the request, or left a response to hold.
    pub fn leave(&self) -> (bool, Option<LocalResponse>) {
        (self.sent.replace(false), self.held.borrow_mut().take())
    }

    /// The request is over: its consumer goes.
    pub fn forget(&self, context: u32) {
        self.consumers.borrow_mut().remove(&context);
    }
}

pub struct ChainHost {
    pub inner: Rc<dyn FilterHost>,
    pub turn: Rc<Turn>,
}

fn is_consumer(path: &[&str]) -> bool {
    path.last() == Some(&identity::KEY)
}

impl FilterHost for ChainHost {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.inner.request_header(name)
    }
    fn property(&self, path: &[&str]) -> Option<String> {
        if is_consumer(path) {
            let context = self.turn.context.get();
            if let Some(consumer) = self.turn.consumers.borrow().get(&context) {
                return Some(consumer.clone());
            }
        }
        self.inner.property(path)
    }
    fn random(&self, out: &mut [u8]) -> bool {
        self.inner.random(out)
    }
    fn set_property(&self, path: &[&str], value: &[u8]) -> bool {
        let set = self.inner.set_property(path, value);
        if set && is_consumer(path) {
            let value = String::from_utf8_lossy(value).into_owned();
            let context = self.turn.context.get();
            self.turn.consumers.borrow_mut().insert(context, value);
        }
        set
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        self.inner.set_request_header(name, value)
    }
    fn set_response_header(&self, name: &str, value: &str) {
        self.inner.set_response_header(name, value)
    }
    fn add_response_header(&self, name: &str, value: &str) {
        self.inner.add_response_header(name, value)
    }
    fn response_header(&self, name: &str) -> Option<String> {
        self.inner.response_header(name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.inner.response_headers()
    }
    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        self.inner.request_body(size)
    }
    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        self.inner.response_body(size)
    }
    fn set_response_body(&self, size: usize, body: &[u8]) -> bool {
        self.inner.set_response_body(size, body)
    }
    fn cut_response_body(&self, keep: usize, seen: usize) -> bool {
        self.inner.cut_response_body(keep, seen)
    }
    fn local_body_gets_newline(&self) -> bool {
        self.inner.local_body_gets_newline()
    }
    fn resumes_only_itself(&self) -> bool {
        self.inner.resumes_only_itself()
    }
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let turn = &self.turn;
        if turn.answered.get() {
            // Another filter of the chain answered first, as it would have as a filter of
            // its own before this one.
            return true;
        }
        if turn.current.get() != turn.front.get() {
            let headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            *turn.held.borrow_mut() = Some((status, headers, body.to_vec()));
            return true;
        }
        let sent = self.inner.send_response(status, headers, body);
        turn.sent.set(sent);
        sent
    }
    fn shared_data(&self) -> &dyn SharedData {
        self.inner.shared_data()
    }
    fn counter(&self, name: &str) -> Option<u32> {
        self.inner.counter(name)
    }
    fn increment(&self, metric: u32, by: i64) {
        self.inner.increment(metric, by)
    }
    fn refusing_config_is_fatal(&self) -> bool {
        self.inner.refusing_config_is_fatal()
    }
    fn set_tick_period_ms(&self, ms: u32) -> bool {
        self.inner.set_tick_period_ms(ms)
    }
    fn request_properties_readable(&self) -> bool {
        self.inner.request_properties_readable()
    }
}
