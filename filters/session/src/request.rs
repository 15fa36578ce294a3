//! The HTTP context, Kong's session flow: a request whose cookie names a live session is
//! authenticated as its consumer (upstream `X-Consumer-*` headers, the consumer handed to the
//! filters after this one), touched, renewed past three quarters of its rolling period, or
//! destroyed by a logout; a request that an authentication filter identified gets a new
//! session and its cookie.

use crate::config::Storage;
use crate::cookie::{self, SID_BYTES};
use crate::filter::Filter;
use crate::sealed::{self, NONCE_BYTES};
use crate::store::{self, Kind, Record, Session};
use redis_filter_core::filter_host::LogLevel;
use redis_filter_core::identity::{self, Consumer};
use redis_filter_core::proxy::Step as _;
use redis_filter_core::proxy::{Action, HttpContext};
use redis_filter_core::transport::Submitted;
use redis_filter_core::Outcome;
use sha2::{Digest, Sha256};
use std::rc::Rc;

/// The Redis work of a request, each with its continuation in `on_redis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Read,
    Logout,
    Renew,
    Create,
    Remember,
}

impl redis_filter_core::proxy::Step for Step {
    const ALL: &'static [Self] = &[
        Step::Read,
        Step::Logout,
        Step::Renew,
        Step::Create,
        Step::Remember,
    ];
}
/// A cookie-kept session is sealed again for its idling timeout once it has been idle this long
/// (lua-resty-session's touch threshold).
const TOUCH_AFTER_S: u64 = 60;

pub struct SessionRequest {
    id: u32,
    filter: Rc<Filter>,
    now_s: u64,
    method: String,
    path: String,
    /// The session id of a cookie whose MAC holds.
    sid: Option<String>,
    /// The live session this request carries (or just made).
    session: Option<Session>,
    /// The id of a remember cookie whose MAC holds (`remember`, `storage: redis`).
    rsid: Option<String>,
    /// `Set-Cookie`s for the response (a new or renewed session, its remember cookie).
    set_cookies: Vec<String>,
    /// What a write in flight will give the client once it lands: the remember session's new
    /// id, if one is written.
    new_rsid: Option<String>,
    /// `read_body_for_logout`: the body is read for `logout_post_arg` (what has come so far).
    logout_body: Option<Vec<u8>>,
}

impl SessionRequest {
    pub fn new(id: u32, filter: Rc<Filter>) -> Self {
        Self {
            id,
            filter,
            now_s: 0,
            method: String::new(),
            path: String::new(),
            sid: None,
            session: None,
            rsid: None,
            set_cookies: Vec::new(),
            new_rsid: None,
            logout_body: None,
        }
    }

    fn submit(&self, owner: u32, step: Step, job: redis_filter_core::job::Pipeline) -> Submitted {
        match &self.filter.client {
            Some(client) => client.submit(owner, step.code(), Box::new(job)),
            None => Submitted::Done(Err(redis_filter_core::RedisError::Transport(
                "no redis client".into(),
            ))),
        }
    }

    fn in_cookie(&self) -> bool {
        self.filter.config.storage == Storage::Cookie
    }

    fn new_sid(&self) -> Option<String> {
        let mut raw = [0u8; SID_BYTES];
        if !self.filter.host.random(&mut raw) {
            self.filter
                .host
                .log(LogLevel::Error, "[session] the host gave no random bytes");
            return None;
        }
        Some(cookie::b64url(&raw))
    }

    fn subject(&self, consumer: &Consumer) -> String {
        let subject = consumer
            .username
            .clone()
            .or_else(|| consumer.custom_id.clone())
            .unwrap_or_else(|| consumer.id.clone());
        if self.filter.config.hash_subject {
            cookie::b64url(&Sha256::digest(subject.as_bytes()))
        } else {
            subject
        }
    }

    fn on_read(&mut self, found: Result<Option<Session>, String>) -> Action {
        let mut session = match found {
            Ok(Some(session)) => session,
            Ok(None) => return self.remembered_or_without(),
            Err(e) => {
                // Redis down: the request goes on without a session (an auth filter after
                // this one may still authenticate it).
                self.filter.redis_failed(&format!("[session] {e}"));
                return Action::Continue;
            }
        };
        session.last_seen = self.now_s;
        let Some(sid) = self.sid.clone() else {
            return Action::Continue;
        };
        if self.logout_requested() {
            return self.destroy();
        }
        self.await_logout_body();
        let rolling = self.filter.config.rolling_timeout;
        let used = self.now_s.saturating_sub(session.rolling_start);
        if rolling > 0 && used * 4 > rolling * 3 {
            return self.renew(session, &sid);
        }
        self.authenticate(session)
    }

    /// Past three quarters of its rolling period a session moves to a new id (the old one
    /// lives `stale_ttl` more seconds, for requests already on their way).
    fn renew(&mut self, mut session: Session, old: &str) -> Action {
        let Some(sid) = self.new_sid() else {
            return self.authenticate(session);
        };
        session.rolling_start = self.now_s;
        let config = &self.filter.config;
        let record = Record {
            kind: Kind::Main,
            sid: &sid,
            session: &session,
        };
        let retire = [(Kind::Main, old, config.stale_ttl.max(1))];
        let job = store::write_job(config, &[record], self.now_s, &retire);
        self.sid = Some(sid);
        self.session = Some(session);
        match self.submit(self.id, Step::Renew, job) {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.saved(outcome),
        }
    }

    /// A new or renewed session was written: its cookie goes with the response.
    fn saved(&mut self, outcome: Outcome) -> Action {
        let (Some(sid), Some(session)) = (self.sid.clone(), self.session.take()) else {
            return Action::Continue;
        };
        match store::done(outcome) {
            Ok(()) => {
                self.cookies_for(&sid);
                self.authenticate(session)
            }
            Err(e) => {
                self.filter
                    .redis_failed(&format!("[session] could not save a session: {e}"));
                Action::Continue
            }
        }
    }

    /// No live session: if an authentication filter before this one identified the consumer,
    /// the session is made now (before the response, so the cookie the client gets already
    /// works on every node).
    fn without_session(&mut self) -> Action {
        let Some(consumer) = identity::handed(self.filter.host.as_ref()) else {
            return Action::Continue;
        };
        if self.in_cookie() {
            let session = self.new_session(consumer);
            if self.issue_new(&session, &session) {
                return self.authenticate(session);
            }
            return Action::Continue;
        }
        let session = self.new_session(consumer);
        let remember = session.clone();
        match self.persist_new(self.id, session, remember, None) {
            Some(Submitted::Pending) => Action::Pause,
            Some(Submitted::Done(outcome)) => self.saved(outcome),
            None => Action::Continue,
        }
    }

    /// Writes a new session (and with `remember` its remember session, under a new id too;
    /// `old_rsid` is the remember session it replaces) as `owner`'s work.
    fn persist_new(
        &mut self,
        owner: u32,
        session: Session,
        remember: Session,
        old_rsid: Option<String>,
    ) -> Option<Submitted> {
        let sid = self.new_sid()?;
        let rsid = if self.filter.config.remember {
            Some(self.new_sid()?)
        } else {
            None
        };
        let mut records = vec![Record {
            kind: Kind::Main,
            sid: &sid,
            session: &session,
        }];
        if let Some(rsid) = &rsid {
            records.push(Record {
                kind: Kind::Remember,
                sid: rsid,
                session: &remember,
            });
        }
        let retire: Vec<(Kind, &str, u64)> = old_rsid
            .as_deref()
            .map(|old| (Kind::Remember, old, 0))
            .into_iter()
            .collect();
        let job = store::write_job(&self.filter.config, &records, self.now_s, &retire);
        let submitted = self.submit(owner, Step::Create, job);
        self.sid = Some(sid);
        self.new_rsid = rsid;
        self.session = Some(session);
        Some(submitted)
    }

    /// The cookies of a session written under `sid` (and of its new remember session).
    fn cookies_for(&mut self, sid: &str) {
        let config = &self.filter.config;
        let value = cookie::value(&self.filter.key, &config.audience, sid);
        self.set_cookies.push(cookie::set_cookie(config, &value));
        if let Some(rsid) = self.new_rsid.take() {
            let value = cookie::value(&self.filter.key, &config.audience, &rsid);
            self.set_cookies
                .push(cookie::set_remember_cookie(config, &value, self.now_s));
            self.rsid = Some(rsid);
        }
    }

    /// No live session: a live remember session brings one back; else, as without a cookie.
    fn remembered_or_without(&mut self) -> Action {
        let Some(rsid) = self.rsid.clone() else {
            return self.without_session();
        };
        let job = store::read_job(&self.filter.config, Kind::Remember, &rsid, self.now_s);
        match self.submit(self.id, Step::Remember, job) {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.on_remembered(store::session(outcome)),
        }
    }

    /// The remember session's answer: a new session for its consumer, and the remember session
    /// moved to a new id (its creation time kept).
    fn on_remembered(&mut self, found: Result<Option<Session>, String>) -> Action {
        let mut remember = match found {
            Ok(Some(session)) => session,
            Ok(None) => return self.without_session(),
            Err(e) => {
                self.filter.redis_failed(&format!("[session] {e}"));
                return Action::Continue;
            }
        };
        remember.rolling_start = self.now_s;
        let session = self.new_session(remember.consumer.clone());
        let old = self.rsid.take();
        match self.persist_new(self.id, session, remember, old) {
            Some(Submitted::Pending) => Action::Pause,
            Some(Submitted::Done(outcome)) => self.saved(outcome),
            None => Action::Continue,
        }
    }

    fn new_session(&self, consumer: Consumer) -> Session {
        Session {
            subject: self.subject(&consumer),
            consumer,
            auth_time: self.now_s,
            rolling_start: self.now_s,
            last_seen: self.now_s,
        }
    }

    /// An authentication filter after this one identified the consumer: the session is
    /// written by the root (no call may leave from a response phase in Kong's engine).
    fn create_from_response(&mut self) {
        let Some(consumer) = identity::handed(self.filter.host.as_ref()) else {
            return;
        };
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.consumer == consumer)
        {
            return;
        }
        let session = self.new_session(consumer);
        if self.in_cookie() {
            if self.issue_new(&session, &session) {
                self.session = Some(session);
            }
            return;
        }
        let remember = session.clone();
        let root = self.filter.root_id;
        match self.persist_new(root, session, remember, None) {
            Some(Submitted::Done(Err(e))) => {
                self.filter
                    .redis_failed(&format!("[session] could not save a session: {e}"));
            }
            Some(_) => {
                if let Some(sid) = self.sid.clone() {
                    self.cookies_for(&sid);
                }
            }
            None => {}
        }
    }
}

impl HttpContext for SessionRequest {
    /// Its one response of its own is a logout's, for a method in `logout_methods`.
    fn may_answer(&self) -> bool {
        let methods = &self.filter.config.logout_methods;
        methods.iter().any(|m| *m == self.method)
    }

    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let filter = self.filter.clone();
        let host = filter.host.as_ref();
        self.now_s = host.now_ms() / 1000;
        self.method = host.request_header(":method").unwrap_or_default();
        self.path = host.request_header(":path").unwrap_or_default();
        let config = &filter.config;
        let cookie = host.request_header("cookie").unwrap_or_default();
        if self.in_cookie() {
            let t = store::Timeouts::of(config, Kind::Main);
            let name = &config.cookie_name;
            let session = cookie::find(&cookie, name)
                .and_then(|v| sealed::open(config, name, &filter.key, v))
                .filter(|s| store::alive(t, s, self.now_s));
            if let Some(session) = session {
                return self.on_cookie_session(session);
            }
            if let Some(action) = self.remembered_in_cookie(&cookie) {
                return action;
            }
            return self.without_session();
        }
        let verified = |name: &str| {
            cookie::find(&cookie, name)
                .and_then(|v| cookie::verify(&filter.key, &config.audience, v))
        };
        self.sid = verified(&config.cookie_name);
        if config.remember {
            self.rsid = verified(&config.remember_cookie_name);
        }
        let Some(sid) = self.sid.clone() else {
            return self.remembered_or_without();
        };
        let job = store::read_job(config, Kind::Main, &sid, self.now_s);
        match self.submit(self.id, Step::Read, job) {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.on_read(store::session(outcome)),
        }
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) -> Action {
        match Step::from_code(tag) {
            Some(Step::Read) => self.on_read(store::session(outcome)),
            Some(Step::Remember) => self.on_remembered(store::session(outcome)),
            Some(Step::Logout) => self.logged_out(outcome),
            Some(Step::Renew | Step::Create) => self.saved(outcome),
            // Not a step of this filter's: nothing of this request waits on it.
            None => Action::Continue,
        }
    }

    fn on_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(body) = &mut self.logout_body else {
            return Action::Continue;
        };
        if let Some(chunk) = self.filter.host.request_body(size) {
            body.extend_from_slice(&chunk);
        }
        // Whole at its end, or (Kong's engine may never say end_of_stream) at its length.
        let length = self
            .filter
            .host
            .request_header("content-length")
            .and_then(|l| l.trim().parse::<usize>().ok());
        let whole = end_of_stream || length.is_some_and(|n| body.len() >= n);
        if !whole {
            return Action::Pause;
        }
        let body = self.logout_body.take().unwrap_or_default();
        if self.body_asks_logout(&body) {
            return self.logout_from_body();
        }
        Action::Continue
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        if self.set_cookies.is_empty() {
            self.create_from_response();
        }
        let host = self.filter.host.clone();
        for set_cookie in std::mem::take(&mut self.set_cookies) {
            host.add_response_header("Set-Cookie", &set_cookie);
        }
        if let Some(session) = &self.session {
            for (name, value) in self.session_headers(session, false) {
                host.set_response_header(&name, &value);
            }
        }
        Action::Continue
    }
}

mod consumer;
mod in_cookie;
mod logout;

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
