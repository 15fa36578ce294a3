//! What a filter asks of its host, per request and per root, as one trait: so a filter's own
//! logic (its request flow, its fail-open decisions, the headers it writes) runs unchanged
//! against the real host (`proxy::WasmFilterHost`) and against `MockHost` in unit tests.

use crate::job::Job;
use crate::shared_data::{Memory, SharedData};
use crate::transport::Submitted;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Log levels, as proxy-wasm numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

pub trait FilterHost {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> u64;
    fn log(&self, level: LogLevel, message: &str);
    /// A request header of the running request.
    fn request_header(&self, name: &str) -> Option<String>;
    /// A property of the running request (`["source", "address"]`), absent or empty as `None`.
    fn property(&self, path: &[&str]) -> Option<String>;
    /// Fills `out` with random bytes from the host (for session ids); false if it cannot.
    fn random(&self, out: &mut [u8]) -> bool;
    /// Sets a property of the running request; false if the host refused the path.
    fn set_property(&self, path: &[&str], value: &[u8]) -> bool;
    /// Replaces (or with None removes) a request header of the running request, as the
    /// upstream will get it.
    fn set_request_header(&self, name: &str, value: Option<&str>);
    /// Replaces a response header of the running request.
    fn set_response_header(&self, name: &str, value: &str);
    /// Adds a response header beside those of the same name (`Set-Cookie`).
    fn add_response_header(&self, name: &str, value: &str);
    /// A response header of the running request (as received, or as a filter set it).
    fn response_header(&self, name: &str) -> Option<String>;
    /// Every response header of the running request, pseudo-headers (`:status`) included.
    fn response_headers(&self) -> Vec<(String, String)>;
    /// The request body chunk the running `on_request_body` was called for.
    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    /// The response body chunk the running `on_response_body` was called for (its first
    /// `size` bytes).
    fn response_body(&self, size: usize) -> Option<Vec<u8>>;
    /// Replaces the first `size` bytes of the running response body chunk with `body`.
    fn set_response_body(&self, size: usize, body: &[u8]) -> bool;
    /// Cuts the running response body chunk, `seen` bytes long, to its first `keep` bytes
    /// (`keep` > 0: an empty write at offset 0 would prepend in Kong's engine); false if the
    /// host refused.
    fn cut_response_body(&self, keep: usize, seen: usize) -> bool;
    /// Whether the host adds a newline (LF) to the non-empty body of a local response and
    /// counts it in `Content-Length` (Kong's engine, engine bug 6 of docs/kong-engine.md).
    fn local_body_gets_newline(&self) -> bool;
    /// Whether a request resumes only from its own callbacks (Kong's engine,
    /// `Affinity::PerContext`); elsewhere (Envoy) any callback may resume any request.
    fn resumes_only_itself(&self) -> bool;
    /// Answers the running request; false if the host refused.
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool;
    fn shared_data(&self) -> &dyn SharedData;
    /// A counter metric's id (None where the host has none).
    fn counter(&self, name: &str) -> Option<u32>;
    fn increment(&self, metric: u32, by: i64);
    /// Whether refusing a config would take the host's worker down (Kong's engine).
    fn refusing_config_is_fatal(&self) -> bool;
    /// Wakes the running root context every `ms` milliseconds (0: never); false if the host
    /// refused.
    fn set_tick_period_ms(&self, ms: u32) -> bool;
    /// Whether the running callback may read the request's own properties (`request.id`,
    /// `request.headers.*`): not from a call's answer on Kong's engine (engine bug 10).
    fn request_properties_readable(&self) -> bool;
}

/// Sends Redis work for a context: `proxy::RedisClient` behind the guest layer, `MockRedis` in
/// unit tests.
pub trait RedisSubmit {
    fn submit(&self, context_id: u32, tag: u32, job: Box<dyn Job>) -> Submitted;
}

/// A local response: status, headers, body.
pub type LocalResponse = (u32, Vec<(String, String)>, Vec<u8>);

/// A host in memory: what a test sets (headers, properties, time) and what the filter did
/// (response headers, its local response, logs, metrics).
#[derive(Default)]
pub struct MockHost {
    pub now_ms: Cell<u64>,
    pub request_headers: RefCell<HashMap<String, String>>,
    pub properties: RefCell<HashMap<String, String>>,
    /// The property paths (dotted) whose setting succeeds; all when empty.
    pub settable: RefCell<Vec<String>>,
    /// The response headers: a test puts the upstream's here, the filter's own land here too.
    pub response_headers: RefCell<Vec<(String, String)>>,
    /// The response body chunk a test hands to `on_response_body`.
    pub response_body: RefCell<Vec<u8>>,
    /// The request body chunk a test hands to `on_request_body`.
    pub request_body: RefCell<Vec<u8>>,
    pub local_response: RefCell<Option<LocalResponse>>,
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    pub metrics: RefCell<Vec<(String, i64)>>,
    pub shared: Memory,
    pub fatal_refusal: Cell<bool>,
    /// Acts as Kong's engine, which adds a newline to local response bodies.
    pub newline_after_local_body: Cell<bool>,
    /// Refuses `cut_response_body` (a host that would not let the newline go).
    pub refuse_body_cut: Cell<bool>,
    /// The tick period the root asked for last.
    pub tick_ms: Cell<u32>,
    /// Acts as a call's answer on Kong's engine, where request properties may not be read.
    pub properties_unreadable: Cell<bool>,
    /// Acts as Kong's engine, where a request resumes only from its own callbacks.
    pub per_context: Cell<bool>,
    /// Feeds `random`: each call gets the next bytes of a counter (predictable on purpose).
    pub random_counter: Cell<u8>,
}

impl MockHost {
    pub fn header(self, name: &str, value: &str) -> Self {
        self.request_headers
            .borrow_mut()
            .insert(name.to_ascii_lowercase(), value.to_string());
        self
    }

    pub fn with_property(self, path: &str, value: &str) -> Self {
        self.properties
            .borrow_mut()
            .insert(path.to_string(), value.to_string());
        self
    }

    /// The value of a metric by name.
    pub fn metric(&self, name: &str) -> i64 {
        self.metrics
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// A response header the filter set.
    pub fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers
            .borrow()
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Forgets what the last request did (response headers, local response).
    pub fn next_request(&self) {
        self.response_headers.borrow_mut().clear();
        *self.local_response.borrow_mut() = None;
    }
}

impl FilterHost for MockHost {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
    fn request_header(&self, name: &str) -> Option<String> {
        self.request_headers
            .borrow()
            .get(&name.to_ascii_lowercase())
            .cloned()
    }
    fn property(&self, path: &[&str]) -> Option<String> {
        self.properties.borrow().get(&path.join(".")).cloned()
    }
    fn random(&self, out: &mut [u8]) -> bool {
        let start = self.random_counter.get().wrapping_add(1);
        self.random_counter.set(start);
        for (i, b) in out.iter_mut().enumerate() {
            *b = start.wrapping_add(i as u8);
        }
        true
    }
    fn set_property(&self, path: &[&str], value: &[u8]) -> bool {
        let key = path.join(".");
        let settable = self.settable.borrow();
        if !settable.is_empty() && !settable.contains(&key) {
            return false;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        self.properties.borrow_mut().insert(key, value);
        true
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        let mut headers = self.request_headers.borrow_mut();
        match value {
            Some(v) => headers.insert(name.to_ascii_lowercase(), v.to_string()),
            None => headers.remove(&name.to_ascii_lowercase()),
        };
    }
    fn add_response_header(&self, name: &str, value: &str) {
        let mut headers = self.response_headers.borrow_mut();
        headers.push((name.to_string(), value.to_string()));
    }
    fn set_response_header(&self, name: &str, value: &str) {
        let mut headers = self.response_headers.borrow_mut();
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value.to_string()));
    }
    fn response_header(&self, name: &str) -> Option<String> {
        MockHost::response_header(self, name)
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        self.response_headers.borrow().clone()
    }
    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        Some(
            self.request_body
                .borrow()
                .iter()
                .take(size)
                .copied()
                .collect(),
        )
    }
    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        let body = self.response_body.borrow();
        Some(body.iter().take(size).copied().collect())
    }
    fn set_response_body(&self, size: usize, body: &[u8]) -> bool {
        let mut current = self.response_body.borrow_mut();
        let at = size.min(current.len());
        let keep = current.split_off(at);
        *current = body.to_vec();
        current.extend(keep);
        true
    }
    fn cut_response_body(&self, keep: usize, seen: usize) -> bool {
        if self.refuse_body_cut.get() || keep == 0 || keep > seen {
            return false;
        }
        self.response_body.borrow_mut().truncate(keep);
        true
    }
    fn local_body_gets_newline(&self) -> bool {
        self.newline_after_local_body.get()
    }
    fn resumes_only_itself(&self) -> bool {
        self.per_context.get()
    }
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        *self.local_response.borrow_mut() = Some((status, headers, body.to_vec()));
        true
    }
    fn shared_data(&self) -> &dyn SharedData {
        &self.shared
    }
    fn counter(&self, name: &str) -> Option<u32> {
        let mut metrics = self.metrics.borrow_mut();
        if let Some(i) = metrics.iter().position(|(n, _)| n == name) {
            return u32::try_from(i).ok();
        }
        metrics.push((name.to_string(), 0));
        u32::try_from(metrics.len() - 1).ok()
    }
    fn increment(&self, metric: u32, by: i64) {
        if let Some((_, v)) = self.metrics.borrow_mut().get_mut(metric as usize) {
            *v += by;
        }
    }
    fn refusing_config_is_fatal(&self) -> bool {
        self.fatal_refusal.get()
    }
    fn set_tick_period_ms(&self, ms: u32) -> bool {
        self.tick_ms.set(ms);
        true
    }
    fn request_properties_readable(&self) -> bool {
        !self.properties_unreadable.get()
    }
}

/// Redis in a unit test: records each job's context, tag and first commands; the test answers
/// by calling the context's `on_redis` with the outcome it wants.
#[derive(Default)]
pub struct MockRedis {
    pub submitted: RefCell<Vec<(u32, u32, Vec<String>)>>,
}

impl RedisSubmit for MockRedis {
    fn submit(&self, context_id: u32, tag: u32, mut job: Box<dyn Job>) -> Submitted {
        let commands = match job.start() {
            crate::job::Step::Send(parts) => parts
                .iter()
                .flat_map(|p| {
                    p.commands.iter().map(|c| {
                        let mut out = Vec::new();
                        c.encode_into(&mut out);
                        String::from_utf8_lossy(&out).into_owned()
                    })
                })
                .collect(),
            crate::job::Step::Done(outcome) => return Submitted::Done(outcome),
        };
        self.submitted
            .borrow_mut()
            .push((context_id, tag, commands));
        Submitted::Pending
    }
}
