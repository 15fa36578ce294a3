//! The HTTP context: looks the request up (Hit answers it), lets a Miss or Refresh go upstream
//! and keeps its response, then hands the entry to the root to write.

use crate::cache_control::{content_type_matches, resource_ttl, Directives};
use crate::cache_key::{self, KeyParts};
use crate::config::Strategy;
use crate::entry::{Entry, VERSION};
use crate::filter::{Counted, Filter, RootStep, Step, NAME};
use crate::stale;
use crate::windows::Windows;
use crate::{memory, store};
use redis_filter_core::filter_host::LogLevel;
use redis_filter_core::proxy::respond;
use redis_filter_core::proxy::Step as _;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use std::rc::Rc;

/// Removed from a stored response when it is served (Kong: hop-by-hop, and the length, which
/// the host sets for the body it sends).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// A response being kept for the cache.
struct Keeping {
    status: u32,
    headers: Vec<(String, String)>,
    ttl: u64,
    stale: Windows,
    /// The body's length as `Content-Length` announced it.
    length: Option<usize>,
    body: Vec<u8>,
}

/// What this request's response phases do: the one phase its response is in.
enum Reply {
    /// The upstream's response goes as it is (Bypass, or nothing decided yet).
    Pass,
    /// The filter answered the request itself (a Hit, a purge, a 502 or 504). `newline`: the
    /// length of the body it sent, where the host adds a newline to it that the response
    /// phases take back (Kong's engine, `newline.rs`).
    Answered { newline: Option<usize> },
    /// The upstream's response is to be kept (Miss, Refresh, an entry of another version), if
    /// its headers allow.
    Store,
    /// It is being kept.
    Keeping(Keeping),
    /// `stale-if-error`: a stale entry's body replaces the upstream's error, carried whole by
    /// the first chunk (None after it: the rest are emptied).
    Swapping(Option<Vec<u8>>),
}

/// Where a request is in the coalescing of a cold entry's fetch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Coalescing {
    /// On its own: no lock taken, none waited for.
    Alone,
    /// It holds the entry's lock: others wait for its response.
    Owner,
    /// It waits for another request fetching its entry, until `until_ms` (ms since the epoch;
    /// Envoy, where the root looks the entry up again on its ticks).
    Waiting { until_ms: u64 },
}

pub struct CacheRequest {
    id: u32,
    filter: Rc<Filter>,
    now_ms: u64,
    method: String,
    request_cc: Directives,
    /// `X-Cache-Status` for the response.
    status: Option<&'static str>,
    key: Option<String>,
    keys: store::Keys,
    coalescing: Coalescing,
    reply: Reply,
    /// The client asked for the diagnostic headers (`Kong-Debug`).
    debug: bool,
    /// A stale entry this request may be served instead of an upstream error
    /// (`stale-if-error`), or while another request fetches a fresh one.
    stale_entry: Option<Entry>,
}

impl CacheRequest {
    pub fn new(id: u32, filter: Rc<Filter>) -> Self {
        Self {
            id,
            filter,
            now_ms: 0,
            method: String::new(),
            request_cc: Directives::default(),
            status: None,
            key: None,
            keys: store::Keys::default(),
            coalescing: Coalescing::Alone,
            reply: Reply::Pass,
            debug: false,
            stale_entry: None,
        }
    }

    /// Whether it held the entry's lock, which it gives up now (to write or release it).
    fn take_lock(&mut self) -> bool {
        let owner = self.coalescing == Coalescing::Owner;
        if owner {
            self.coalescing = Coalescing::Alone;
        }
        owner
    }

    fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    fn header(&self, name: &str) -> Option<String> {
        self.filter.host.request_header(name)
    }

    /// Kong's `cacheable_request`, plus this filter's guard: a request with `Authorization` is
    /// not cached unless `cache_authorized_requests` (Kong's check of it never fires).
    fn cacheable_request(&self) -> bool {
        let config = &self.filter.config;
        if !config.request_method.iter().any(|m| *m == self.method) {
            return false;
        }
        let authorized = self.header("authorization").is_some();
        let cc = &self.request_cc;
        if config.cache_control && (cc.has("no-store") || cc.has("no-cache")) {
            return false;
        }
        !authorized || config.cache_authorized_requests
    }

    fn bypass(&mut self) -> Action {
        self.status = Some("Bypass");
        self.filter.count(Counted::Bypass);
        Action::Continue
    }

    fn lookup(&mut self) -> Action {
        let filter = self.filter.clone();
        match filter.config.strategy {
            Strategy::Memory => {
                let raw = memory::get(filter.host.shared_data(), &self.keys.entry, self.now_ms);
                self.on_fetched(Ok(raw))
            }
            Strategy::Redis => {
                let Some(client) = &filter.client else {
                    return self.on_fetched(Err("no redis client".into()));
                };
                let max = filter.config.redis.max_redirections();
                let (step, job) = match filter.config.coalesce_wait_ms() {
                    Some(ms) => (Step::Lookup, store::lookup_job(&self.keys, ms, max)),
                    None => (Step::Fetch, store::fetch_job(&self.keys.entry, max)),
                };
                match client.submit(self.id, step.code(), Box::new(job)) {
                    Submitted::Pending => Action::Pause,
                    Submitted::Done(outcome) => self.on_redis(step.code(), outcome),
                }
            }
        }
    }

    /// A coalescing lookup's answer.
    fn on_lookup(&mut self, found: Result<store::Lookup, String>) -> Action {
        match found {
            Err(e) => self.on_fetched(Err(e)),
            Ok(store::Lookup::Entry(raw)) => {
                if let Coalescing::Waiting { .. } = self.coalescing {
                    self.filter.count(Counted::Coalesced);
                }
                self.on_fetched(Ok(Some(raw)))
            }
            Ok(store::Lookup::Fetch) => {
                self.coalescing = Coalescing::Owner;
                self.on_fetched(Ok(None))
            }
            Ok(store::Lookup::Wait) => {
                let filter = self.filter.clone();
                let cc = &self.request_cc;
                let wait = filter.config.coalesce_wait_ms();
                let (Some(client), Some(ms)) = (&filter.client, wait) else {
                    return self.on_fetched(Ok(None));
                };
                if filter.config.cache_control && cc.has("only-if-cached") {
                    return self.on_fetched(Ok(None));
                }
                let now = filter.host.now_ms();
                if !filter.host.resumes_only_itself() {
                    // Envoy: the root looks it up again for this request on its ticks (a
                    // blocking wait cannot cross Envoy's tunnel: it half-closes the upstream
                    // connection once the call's body is sent, and Redis then drops it).
                    let until = match self.coalescing {
                        Coalescing::Waiting { until_ms } => until_ms,
                        Coalescing::Alone | Coalescing::Owner => now + ms,
                    };
                    self.coalescing = Coalescing::Waiting { until_ms: until };
                    if now >= until {
                        return self.refresh("Miss", Counted::Miss);
                    }
                    let keys = self.keys.clone();
                    filter.waiting.borrow_mut().push((self.id, keys));
                    return Action::Pause;
                }
                // Kong's engine: one blocking call, in whole seconds (Redis 5.0).
                let Some(seconds) = filter.config.blocking_wait_s() else {
                    return self.refresh("Miss", Counted::Miss);
                };
                let max = filter.config.redis.max_redirections();
                let job = store::wait_job(&self.keys, seconds, max);
                match client.submit(self.id, Step::Wait.code(), Box::new(job)) {
                    Submitted::Pending => Action::Pause,
                    Submitted::Done(outcome) => self.on_waited(store::waited(outcome)),
                }
            }
        }
    }

    /// The fetcher finished (or the wait ran out): its entry, or upstream as a Miss.
    fn on_waited(&mut self, found: Result<Option<Vec<u8>>, String>) -> Action {
        match found {
            Ok(Some(raw)) => {
                self.filter.count(Counted::Coalesced);
                self.on_fetched(Ok(Some(raw)))
            }
            Ok(None) => self.refresh("Miss", Counted::Miss),
            Err(e) => self.on_fetched(Err(e)),
        }
    }

    fn on_fetched(&mut self, found: Result<Option<Vec<u8>>, String>) -> Action {
        let raw = match found {
            Ok(raw) => raw,
            Err(e) => {
                self.filter.redis_failed(&format!("[proxy-cache] {e}"));
                if self.filter.config.bypass_on_err {
                    return self.bypass();
                }
                // proxy-cache-advanced without bypass_on_err: the unhandled error is the
                // answer, `502 {"message": <error>}` (with the X-Cache-Key already set).
                self.reply = Reply::Answered { newline: None };
                let headers = self.diagnostic(&[]);
                let host = self.filter.host.as_ref();
                return respond::kong_error(host, NAME, 502, &e, &headers);
            }
        };
        let entry = match raw.map(|r| Entry::decode(&r)) {
            None => return self.miss(),
            Some(Ok(entry)) => entry,
            Some(Err(e)) => {
                let line = format!("[proxy-cache] unreadable entry {}: {e}", self.keys.entry);
                self.filter.host.log(LogLevel::Warn, &line);
                return self.miss();
            }
        };
        if self.expired(&entry) {
            return self.miss();
        }
        if entry.version != VERSION {
            // Kong purges it and keeps the new response (its write replaces the entry).
            let line = format!(
                "[proxy-cache] cache format mismatch, purging {}",
                self.keys.entry
            );
            self.filter.host.log(LogLevel::Info, &line);
            return self.refresh("Bypass", Counted::Bypass);
        }
        let now_s = self.now_s();
        let config = &self.filter.config;
        let refused = self.stale_for_request(&entry);
        let past = if config.cache_control {
            stale::past_freshness(config, &entry, now_s)
        } else {
            refused
        };
        if !refused && !past {
            return self.hit(entry);
        }
        let over = stale::staleness(config, &entry, now_s);
        let while_revalidate = entry.stale.while_revalidate;
        if entry.stale.if_error > 0 && over <= entry.stale.if_error {
            self.stale_entry = Some(entry.clone());
        }
        let revalidating =
            !(config.cache_control && refused) && while_revalidate > 0 && over <= while_revalidate;
        if revalidating {
            if let Some(action) = self.take_lock_or_serve_stale(entry) {
                return action;
            }
        }
        self.refresh("Refresh", Counted::Refresh)
    }

    /// `stale-while-revalidate`: the request that takes the entry's lock fetches a fresh copy
    /// (Refresh); the others are served the stale one meanwhile. None: no lock to take here
    /// (`memory`), so this request refreshes.
    fn take_lock_or_serve_stale(&mut self, entry: Entry) -> Option<Action> {
        let filter = self.filter.clone();
        if filter.config.strategy != Strategy::Redis {
            return None;
        }
        let client = filter.client.as_ref()?;
        let ms = filter.config.coalesce_wait_ms().unwrap_or(1000);
        let max = filter.config.redis.max_redirections();
        self.stale_entry = Some(entry);
        let job = store::lock_job(&self.keys, ms, max);
        Some(
            match client.submit(self.id, Step::Revalidate.code(), Box::new(job)) {
                Submitted::Pending => Action::Pause,
                Submitted::Done(outcome) => self.on_lock(store::locked(outcome)),
            },
        )
    }

    fn on_lock(&mut self, taken: Result<bool, String>) -> Action {
        match (taken, self.stale_entry.clone()) {
            (Ok(false), Some(entry)) => {
                self.stale_entry = None;
                self.serve(entry, "Stale", Counted::Stale)
            }
            (Ok(true), _) => {
                self.coalescing = Coalescing::Owner;
                self.refresh("Refresh", Counted::Refresh)
            }
            _ => self.refresh("Refresh", Counted::Refresh),
        }
    }

    /// A `memory` entry past its storage TTL (Redis drops those itself).
    fn expired(&self, entry: &Entry) -> bool {
        entry.expires_at_ms.is_some_and(|at| at <= self.now_ms)
    }

    fn miss(&mut self) -> Action {
        if self.filter.config.cache_control && self.request_cc.has("only-if-cached") {
            self.reply = Reply::Answered { newline: None };
            let headers = self.diagnostic(&[]);
            let host = self.filter.host.as_ref();
            let message = "The upstream server is timing out";
            return respond::kong_error(host, NAME, 504, message, &headers);
        }
        self.refresh("Miss", Counted::Miss)
    }

    /// The request goes upstream and its response is kept.
    fn refresh(&mut self, status: &'static str, counted: Counted) -> Action {
        self.status = Some(status);
        self.reply = Reply::Store;
        self.filter.count(counted);
        Action::Continue
    }

    /// Kong's freshness: with `cache_control` the request's `max-age`, `max-stale` and
    /// `min-fresh`; without it, the entry's age against `cache_ttl`.
    fn stale_for_request(&self, entry: &Entry) -> bool {
        let age = self.now_s().saturating_sub(entry.timestamp) as f64;
        let ttl = entry.ttl as f64;
        let config = &self.filter.config;
        if !config.cache_control {
            return age > config.cache_ttl as f64;
        }
        let cc = &self.request_cc;
        cc.number("max-age").is_some_and(|m| age > m)
            || cc.number("max-stale").is_some_and(|m| age - ttl > m)
            || cc.number("min-fresh").is_some_and(|m| ttl - age < m)
    }
}

impl HttpContext for CacheRequest {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let filter = self.filter.clone();
        self.now_ms = filter.host.now_ms();
        self.method = self.header(":method").unwrap_or_default();
        let path = self.header(":path").unwrap_or_default();
        if let Some(purge) = &filter.config.purge {
            let prefix = format!("{}/", purge.path);
            if self.method == purge.method {
                if let Some(key) = path.split('?').next().and_then(|p| p.strip_prefix(&prefix)) {
                    return self.purge(key);
                }
            }
        }
        self.debug = self.header("kong-debug").is_some();
        self.request_cc = Directives::parse(self.header("cache-control").as_deref());
        if !self.cacheable_request() {
            return self.bypass();
        }
        let route_id = filter.route_id();
        let protocol = filter.host.property(&["request", "protocol"]);
        // The consumer an authentication filter before this one handed over (never a header).
        let consumer = redis_filter_core::identity::handed(filter.host.as_ref());
        let parts = KeyParts {
            consumer_id: consumer.as_ref().map(|c| c.id.as_str()),
            route_id: route_id.as_deref(),
            method: &self.method,
            path: &path,
            protocol: protocol.as_deref().unwrap_or("HTTP/1.1"),
            ignore_uri_case: filter.config.ignore_uri_case,
        };
        let config = &filter.config;
        let key = cache_key::build(
            &parts,
            &config.vary_query_params,
            &config.vary_headers,
            |h| self.header(h),
        );
        self.keys = store::Keys::new(route_id.as_deref().unwrap_or("default"), &key);
        self.key = Some(key);
        self.lookup()
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        match Step::from_code(tag) {
            Some(Step::Fetch) => self.on_fetched(store::fetched(outcome)),
            Some(Step::Purge) => self.purged(store::deleted(outcome)),
            Some(Step::Lookup) => self.on_lookup(store::looked_up(outcome)),
            Some(Step::Wait) => self.on_waited(store::waited(outcome)),
            Some(Step::Revalidate) => self.on_lock(store::locked(outcome)),
            // Not a step of this filter's: nothing of this request waits on it.
            None => Action::Continue,
        }
    }

    fn on_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if let Reply::Answered { newline } = self.reply {
            // Nothing here reads a request property: in Kong's engine this runs for the local
            // response this request sent (engine bug 10 is about such reads).
            self.restore_length(newline);
            return Action::Continue;
        }
        if self.serve_stale_on_error() {
            return Action::Continue;
        }
        if let Reply::Store = self.reply {
            self.reply = match self.cacheable_response() {
                Some(keeping) => Reply::Keeping(keeping),
                None => {
                    self.status = Some("Bypass");
                    self.release();
                    Reply::Pass
                }
            };
        }
        for (name, value) in self.diagnostic(&[]) {
            self.filter.host.set_response_header(&name, &value);
        }
        // A HEAD's response has no body, whatever its Content-Length says.
        if end_of_stream || self.method == "HEAD" {
            self.write();
        }
        Action::Continue
    }

    fn on_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if let Reply::Answered { newline } = self.reply {
            let newline = self.cut_newline(newline, size);
            self.reply = Reply::Answered { newline };
            return Action::Continue;
        }
        let keeping = match &mut self.reply {
            Reply::Answered { .. } | Reply::Pass | Reply::Store => return Action::Continue,
            Reply::Swapping(body) => {
                // The stale entry's body replaces the upstream's error body.
                let body = body.take().unwrap_or_default();
                self.filter.host.set_response_body(size, &body);
                return Action::Continue;
            }
            Reply::Keeping(keeping) => keeping,
        };
        if size > 0 {
            let chunk = self.filter.host.response_body(size).unwrap_or_default();
            keeping.body.extend_from_slice(&chunk);
        }
        if keeping.body.len() > self.filter.config.max_body_size {
            // Past the limit mid-stream (no Content-Length said so): not kept.
            self.reply = Reply::Pass;
            self.release();
            return Action::Continue;
        }
        // Kong's engine never says end_of_stream for a body that came in several chunks: a
        // body as long as its Content-Length is whole.
        if end_of_stream || Some(keeping.body.len()) == keeping.length {
            self.write();
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // No response was kept (the upstream failed, the client went away): let waiters go.
        self.release();
        if let Coalescing::Waiting { .. } = self.coalescing {
            self.filter.forget_waiter(self.id);
        }
    }
}

mod keep;
mod newline;
mod purge;
mod serve;

pub use keep::written;

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
