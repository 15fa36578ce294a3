//! The host the chain's filters see: the real one, but for four things. A local response from
//! a filter whose turn has not come (it ran ahead while an earlier one waits on Redis) is held
//! until its turn; a filter's response after the chain has answered is dropped; the consumer
//! handed on is read back from memory (it is still written to the host, for what comes after
//! the chain); and in Kong itself, once the request has waited on Redis, Kong's `kong.*`
//! properties are answered from what was read before and written to memory only: Kong answers
//! them from Lua, which the engine runs on another request's Lua thread when asked from a call's
//! answer (docs/kong-engine.md, item 13).

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
    /// Whether the host is Kong itself (its `kong.version` property answers), learnt on the
    /// first request.
    in_kong: Cell<Option<bool>>,
    /// Kong's properties as read before the request first waited, per request.
    kong: RefCell<FastMap<u32, KongView>>,
}

/// What a request's filters read of Kong's `kong.*` properties (by dotted path), and whether the
/// request has waited on Redis since.
#[derive(Default)]
struct KongView {
    waited: bool,
    read: FastMap<String, Option<String>>,
}

/// Kong's properties the filters read, asked for before the first wait so they can be answered
/// after it: the route and service ids (Kong's constants, which the engine then keeps for the
/// whole chain) and the consumer an earlier plugin handed on.
const KONG_PRIMED: [&[&str]; 3] = [
    &["kong", "route_id"],
    &["kong", "service_id"],
    &["kong", "ctx", "shared", identity::KEY],
];

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
        self.kong.borrow_mut().remove(&context);
    }

    /// The request's first callback (in Kong, from its access phase, on the request's own Lua
    /// thread): reads Kong's properties the filters ask for while that is safe.
    pub fn prime(&self, context: u32, host: &dyn FilterHost) {
        let in_kong = match self.in_kong.get() {
            Some(known) => known,
            None => {
                let known = host.property(&["kong", "version"]).is_some();
                self.in_kong.set(Some(known));
                known
            }
        };
        if !in_kong {
            return;
        }
        let mut view = KongView::default();
        for path in KONG_PRIMED {
            view.read.insert(path.join("."), host.property(path));
        }
        self.kong.borrow_mut().insert(context, view);
    }

    /// A call of the request was answered: from now on Kong's properties are not asked.
    pub fn waited(&self, context: u32) {
        if let Some(view) = self.kong.borrow_mut().get_mut(&context) {
            view.waited = true;
        }
    }

    /// Whether `path` is one of Kong's properties asked after the request waited (in Kong).
    fn kong_after_wait(&self, path: &[&str]) -> bool {
        path.first() == Some(&"kong")
            && self
                .kong
                .borrow()
                .get(&self.context.get())
                .is_some_and(|view| view.waited)
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
        let context = self.turn.context.get();
        if is_consumer(path) {
            if let Some(consumer) = self.turn.consumers.borrow().get(&context) {
                return Some(consumer.clone());
            }
        }
        if path.first() == Some(&"kong") {
            let mut views = self.turn.kong.borrow_mut();
            if let Some(view) = views.get_mut(&context) {
                let key = path.join(".");
                if let Some(known) = view.read.get(&key) {
                    return known.clone();
                }
                if view.waited {
                    return None;
                }
                let value = self.inner.property(path);
                view.read.insert(key, value.clone());
                return value;
            }
        }
        self.inner.property(path)
    }
    fn random(&self, out: &mut [u8]) -> bool {
        self.inner.random(out)
    }
    fn set_property(&self, path: &[&str], value: &[u8]) -> bool {
        // In Kong after a wait: kept for the chain's filters only (Kong's plugins after the
        // chain do not see it).
        let set = self.turn.kong_after_wait(path) || self.inner.set_property(path, value);
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

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::filter_host::MockHost;

    fn kong() -> (Rc<MockHost>, ChainHost) {
        let inner = Rc::new(
            MockHost::default()
                .with_property("kong.version", "3.9.3")
                .with_property("kong.route_id", "r-1"),
        );
        let turn = Rc::new(Turn::default());
        turn.enter(7, 0, 0, false);
        let host = ChainHost {
            inner: inner.clone(),
            turn,
        };
        (inner, host)
    }

    #[test]
    fn in_kong_after_a_wait_kong_properties_come_from_memory_only() {
        let (inner, host) = kong();
        host.turn.prime(7, inner.as_ref());
        host.turn.waited(7);
        // Kong changing its answer now is not seen: the chain asks Kong nothing more.
        inner
            .properties
            .borrow_mut()
            .insert("kong.route_id".into(), "changed".into());
        inner
            .properties
            .borrow_mut()
            .insert("kong.route_name".into(), "api".into());
        assert_eq!(host.property(&["kong", "route_id"]).as_deref(), Some("r-1"));
        assert_eq!(host.property(&["kong", "route_name"]), None);
        // The consumer a filter hands on stays in the chain's memory.
        let path = ["kong", "ctx", "shared", identity::KEY];
        assert!(host.set_property(&path, br#"{"id":"c"}"#));
        assert_eq!(host.property(&path).as_deref(), Some(r#"{"id":"c"}"#));
        assert!(!inner
            .properties
            .borrow()
            .contains_key(&format!("kong.ctx.shared.{}", identity::KEY)));
        // Other properties still come from the host.
        inner
            .properties
            .borrow_mut()
            .insert("source.address".into(), "10.0.0.1:5".into());
        assert!(host.property(&["source", "address"]).is_some());
    }

    #[test]
    fn before_a_wait_and_outside_kong_the_host_answers() {
        let (inner, host) = kong();
        host.turn.prime(7, inner.as_ref());
        let path = ["kong", "ctx", "shared", identity::KEY];
        assert!(host.set_property(&path, br#"{"id":"c"}"#));
        assert!(inner
            .properties
            .borrow()
            .contains_key(&format!("kong.ctx.shared.{}", identity::KEY)));
        // The engine alone (no kong.version): nothing is held back.
        let engine = Rc::new(MockHost::default().with_property("kong.route_id", "r-1"));
        let turn = Rc::new(Turn::default());
        turn.enter(8, 0, 0, false);
        turn.prime(8, engine.as_ref());
        turn.waited(8);
        let host = ChainHost {
            inner: engine.clone(),
            turn,
        };
        engine
            .properties
            .borrow_mut()
            .insert("kong.route_id".into(), "changed".into());
        assert_eq!(
            host.property(&["kong", "route_id"]).as_deref(),
            Some("changed")
        );
    }
}
