//! The HTTP context: looks the request up (Hit answers it), lets a Miss or Refresh go upstream
//! and keeps its response, then hands the entry to the root to write.

use crate::cache_control::{content_type_matches, resource_ttl, Directives};
use crate::cache_key::{self, KeyParts};
use crate::config::Strategy;
use crate::entry::{Entry, VERSION};
use crate::filter::{Counted, Filter, LOOKUP, NAME};
use crate::store;
use redis_filter_core::filter_host::LogLevel;
use redis_filter_core::proxy::respond;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use std::rc::Rc;

const FETCH: u32 = 1;
const PURGE: u32 = 2;
const WAIT: u32 = 5;
/// The root's tags for writes and lock releases (see `root.rs`).
pub const WRITE: u32 = 3;
pub const RELEASE: u32 = 6;

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
    body: Vec<u8>,
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
    /// This request holds the lock of a cold entry: others wait for its response.
    lock_owner: bool,
    /// Until when it waits for another request fetching its entry (ms since the epoch).
    wait_until: Option<u64>,
    /// The response is to be kept (Miss, Refresh, an entry of another version).
    store: bool,
    keeping: Option<Keeping>,
    /// The filter answered the request itself (a Hit, a purge, a 504).
    answered: bool,
    /// The client asked for the diagnostic headers (`Kong-Debug`).
    debug: bool,
    /// A Hit's body, to put in from `on_response_body` where the host would add a newline to
    /// a local response's body (Kong's engine).
    hit_body: Option<Vec<u8>>,
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
            lock_owner: false,
            wait_until: None,
            store: false,
            keeping: None,
            answered: false,
            debug: false,
            hit_body: None,
        }
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
                let raw = store::memory_get(filter.host.shared_data(), &self.keys.entry);
                self.on_fetched(Ok(raw))
            }
            Strategy::Redis => {
                let Some(client) = &filter.client else {
                    return self.on_fetched(Err("no redis client".into()));
                };
                let max = filter.config.redis.max_redirections();
                let (tag, job) = match filter.config.coalesce_wait_ms() {
                    Some(ms) => (LOOKUP, store::lookup_job(&self.keys, ms, max)),
                    None => (FETCH, store::fetch_job(&self.keys.entry, max)),
                };
                match client.submit(self.id, tag, Box::new(job)) {
                    Submitted::Pending => Action::Pause,
                    Submitted::Done(outcome) => self.on_redis(tag, outcome),
                }
            }
        }
    }

    /// A coalescing lookup's answer.
    fn on_lookup(&mut self, found: Result<store::Lookup, String>) -> Action {
        match found {
            Err(e) => self.on_fetched(Err(e)),
            Ok(store::Lookup::Entry(raw)) => {
                if self.wait_until.is_some() {
                    self.filter.count(Counted::Coalesced);
                }
                self.on_fetched(Ok(Some(raw)))
            }
            Ok(store::Lookup::Fetch) => {
                self.lock_owner = true;
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
                    let until = *self.wait_until.get_or_insert(now + ms);
                    if now >= until {
                        return self.refresh("Miss", Counted::Miss);
                    }
                    let keys = self.keys.clone();
                    filter.waiting.borrow_mut().push((self.id, keys));
                    return Action::Pause;
                }
                let max = filter.config.redis.max_redirections();
                let job = store::wait_job(&self.keys, ms, max);
                match client.submit(self.id, WAIT, Box::new(job)) {
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

    /// The lock goes back unused (the response is not kept): the waiters go upstream.
    fn release(&mut self) {
        if !std::mem::take(&mut self.lock_owner) {
            return;
        }
        let filter = &self.filter;
        let (Some(client), Some(ms)) = (&filter.client, filter.config.coalesce_wait_ms()) else {
            return;
        };
        let max = filter.config.redis.max_redirections();
        let job = store::release_job(&self.keys, ms, max);
        if let Submitted::Done(Err(e)) = client.submit(filter.root_id, RELEASE, Box::new(job)) {
            filter.storage_failed(&format!("[proxy-cache] could not release a lock: {e}"));
        }
    }

    fn on_fetched(&mut self, found: Result<Option<Vec<u8>>, String>) -> Action {
        let raw = match found {
            Ok(raw) => raw,
            Err(e) => {
                self.filter.storage_failed(&format!("[proxy-cache] {e}"));
                if self.filter.config.bypass_on_err {
                    return self.bypass();
                }
                // Kong's plugin: logged, proxied, neither status nor storage.
                return Action::Continue;
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
        if self.stale_for_request(&entry) {
            return self.refresh("Refresh", Counted::Refresh);
        }
        self.hit(entry)
    }

    /// A `memory` entry past its storage TTL (Redis drops those itself).
    fn expired(&self, entry: &Entry) -> bool {
        entry.expires_at_ms.is_some_and(|at| at <= self.now_ms)
    }

    fn miss(&mut self) -> Action {
        if self.filter.config.cache_control && self.request_cc.has("only-if-cached") {
            self.answered = true;
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
        self.store = true;
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

    /// Kong's diagnostic headers (each as `response_headers` says, all with `Kong-Debug`),
    /// after `extra`.
    fn diagnostic(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let flags = self.filter.config.response_headers;
        let mut out = extra.to_vec();
        if let (Some(status), true) = (self.status, flags.status || self.debug) {
            out.push(("X-Cache-Status".into(), status.into()));
        }
        if let (Some(key), true) = (&self.key, flags.key || self.debug) {
            out.push(("X-Cache-Key".into(), key.clone()));
        }
        out
    }

    fn hit(&mut self, entry: Entry) -> Action {
        self.status = Some("Hit");
        self.answered = true;
        self.filter.count(Counted::Hit);
        let mut headers: Vec<(String, String)> = entry
            .headers
            .into_iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with(':')
                    && !HOP_BY_HOP.contains(&k.as_str())
                    && !k.contains("ratelimit-remaining")
                    && !matches!(k.as_str(), "age" | "x-cache-status" | "x-cache-key")
            })
            .collect();
        if self.filter.config.response_headers.age || self.debug {
            let age = self.now_s().saturating_sub(entry.timestamp);
            headers.push(("age".into(), age.to_string()));
        }
        let mut headers = self.diagnostic(&headers);
        let mut body: &[u8] = if self.method == "HEAD" {
            &[]
        } else {
            &entry.body
        };
        if !body.is_empty() && self.filter.host.local_body_gets_newline() {
            headers.push(("Content-Length".into(), body.len().to_string()));
            self.hit_body = Some(body.to_vec());
            body = &[];
        }
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if self.filter.host.send_response(entry.status, &pairs, body) {
            return Action::Pause;
        }
        self.filter.host.log(
            LogLevel::Error,
            "[proxy-cache] the host refused the cached response",
        );
        self.answered = false;
        self.status = Some("Miss");
        Action::Continue
    }

    /// Kong's `cacheable_response`, plus this filter's guards: a body the headers say is over
    /// `max_body_size`, and `Set-Cookie` unless `cache_set_cookie_responses`.
    fn cacheable_response(&self) -> Option<Keeping> {
        let host = self.filter.host.as_ref();
        let config = &self.filter.config;
        let status: u32 = host.response_header(":status")?.trim().parse().ok()?;
        if !config.response_code.contains(&status) {
            return None;
        }
        let content_type = host.response_header("content-type")?;
        if !content_type_matches(&config.content_type, &content_type) {
            return None;
        }
        let cc = Directives::parse(host.response_header("cache-control").as_deref());
        let expires = host.response_header("expires");
        let ttl = if config.cache_control {
            if cc.has("private") || cc.has("no-store") || cc.has("no-cache") {
                return None;
            }
            let ttl = resource_ttl(&cc, expires.as_deref(), self.now_s());
            if ttl == 0 {
                return None;
            }
            ttl
        } else {
            config.cache_ttl
        };
        if !config.cache_set_cookie_responses && host.response_header("set-cookie").is_some() {
            return None;
        }
        let length = host.response_header("content-length");
        if length.and_then(|l| l.trim().parse::<usize>().ok()) > Some(config.max_body_size) {
            return None;
        }
        let headers = host
            .response_headers()
            .into_iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .collect();
        Some(Keeping {
            status,
            headers,
            ttl,
            body: Vec::new(),
        })
    }

    /// The kept response goes to storage: as the root's work, so in Kong's engine it leaves from
    /// the root's next tick (no dispatch is allowed in a response phase there); in Envoy at once.
    fn write(&mut self) {
        let Some(keeping) = self.keeping.take() else {
            return;
        };
        let filter = self.filter.clone();
        let config = &filter.config;
        let storage_ttl = config.storage_ttl(keeping.ttl);
        if storage_ttl == 0 {
            return self.release();
        }
        let memory = config.strategy == Strategy::Memory;
        let entry = Entry {
            version: VERSION,
            status: keeping.status,
            headers: keeping.headers,
            body: keeping.body,
            timestamp: self.now_s(),
            ttl: keeping.ttl,
            expires_at_ms: memory.then(|| self.now_ms + storage_ttl * 1000),
        };
        let value = entry.encode();
        if memory {
            match store::memory_set(filter.host.shared_data(), &self.keys.entry, &value) {
                Ok(()) => filter.count(Counted::Stored),
                Err(e) => filter.storage_failed(&format!("[proxy-cache] {e}")),
            }
            return;
        }
        let Some(client) = &filter.client else {
            return;
        };
        let max = config.redis.max_redirections();
        let lock_ms = std::mem::take(&mut self.lock_owner)
            .then(|| config.coalesce_wait_ms())
            .flatten();
        let job = store::store_job(&self.keys, value, storage_ttl, lock_ms, max);
        if let Submitted::Done(outcome) = client.submit(filter.root_id, WRITE, Box::new(job)) {
            written(&filter, outcome);
        }
    }

    /// `<method> <path>/<cache key>` with the secret: deletes one entry (204, or 404).
    fn purge(&mut self, key: &str) -> Action {
        self.answered = true;
        let filter = self.filter.clone();
        let Some(purge) = &filter.config.purge else {
            return Action::Continue;
        };
        let host = filter.host.as_ref();
        let given = self.header(&purge.secret_header).unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), purge.secret.as_bytes()) {
            return respond::kong_error(host, NAME, 401, "Unauthorized", &[]);
        }
        let scope = filter.route_id().unwrap_or_else(|| "default".into());
        self.keys = store::Keys::new(&scope, key);
        match filter.config.strategy {
            Strategy::Memory => {
                let deleted = store::memory_delete(host.shared_data(), &self.keys.entry);
                self.purged(deleted)
            }
            Strategy::Redis => {
                let Some(client) = &filter.client else {
                    return self.purged(Err("no redis client".into()));
                };
                let max = filter.config.redis.max_redirections();
                let job = store::purge_job(&self.keys.entry, max);
                match client.submit(self.id, PURGE, Box::new(job)) {
                    Submitted::Pending => Action::Pause,
                    Submitted::Done(outcome) => self.purged(store::deleted(outcome)),
                }
            }
        }
    }

    fn purged(&mut self, deleted: Result<bool, String>) -> Action {
        let host = self.filter.host.as_ref();
        match deleted {
            Ok(true) => {
                if host.send_response(204, &[], b"") {
                    Action::Pause
                } else {
                    Action::Continue
                }
            }
            Ok(false) => respond::kong_error(host, NAME, 404, "Not found", &[]),
            Err(e) => {
                self.filter
                    .storage_failed(&format!("[proxy-cache] purge: {e}"));
                respond::kong_error(host, NAME, 500, "An unexpected error occurred", &[])
            }
        }
    }
}

/// A write's answer, heard by the root.
pub fn written(filter: &Filter, outcome: Outcome) {
    match store::stored(outcome) {
        Ok(()) => filter.count(Counted::Stored),
        Err(e) => filter.storage_failed(&format!("[proxy-cache] could not store: {e}")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, y) in b.iter().enumerate() {
        let x = a.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
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
        let parts = KeyParts {
            consumer_id: None,
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
        match tag {
            PURGE => self.purged(store::deleted(outcome)),
            LOOKUP => self.on_lookup(store::looked_up(outcome)),
            WAIT => self.on_waited(store::waited(outcome)),
            _ => self.on_fetched(store::fetched(outcome)),
        }
    }

    fn on_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if self.answered {
            return Action::Continue;
        }
        if self.store {
            self.keeping = self.cacheable_response();
            if self.keeping.is_none() {
                self.status = Some("Bypass");
                self.release();
            }
        }
        for (name, value) in self.diagnostic(&[]) {
            self.filter.host.set_response_header(&name, &value);
        }
        if end_of_stream {
            self.write();
        }
        Action::Continue
    }

    fn on_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if let Some(body) = self.hit_body.take() {
            if !self.filter.host.set_response_body(size, &body) {
                let line = "[proxy-cache] the host refused the cached body";
                self.filter.host.log(LogLevel::Error, line);
            }
            return Action::Continue;
        }
        let Some(keeping) = &mut self.keeping else {
            return Action::Continue;
        };
        if size > 0 {
            let chunk = self.filter.host.response_body(size).unwrap_or_default();
            keeping.body.extend_from_slice(&chunk);
        }
        if keeping.body.len() > self.filter.config.max_body_size {
            // Past the limit mid-stream (no Content-Length said so): not kept.
            self.keeping = None;
            self.release();
            return Action::Continue;
        }
        if end_of_stream {
            self.write();
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // No response was kept (the upstream failed, the client went away): let waiters go.
        self.release();
        if self.wait_until.is_some() {
            self.filter.forget_waiter(self.id);
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
