//! `storage: cookie`: the session sealed into the cookie, opened, resealed; with `remember`,
//! a second, persistent cookie that brings it back.

use super::*;

impl SessionRequest {
    /// `storage: cookie`: the session sealed into a cookie the response carries (the remember
    /// cookie with `kind` Remember).
    pub(super) fn issue_as(&mut self, kind: Kind, session: &Session) -> bool {
        let mut nonce = [0u8; NONCE_BYTES];
        if !self.filter.host.random(&mut nonce) {
            return false;
        }
        let config = &self.filter.config;
        let name = match kind {
            Kind::Main => &config.cookie_name,
            Kind::Remember => &config.remember_cookie_name,
        };
        let Some(value) = sealed::seal(config, name, &self.filter.key, &nonce, session) else {
            return false;
        };
        self.set_cookies.push(match kind {
            Kind::Main => cookie::set_cookie(config, &value),
            Kind::Remember => cookie::set_remember_cookie(config, &value, self.now_s),
        });
        true
    }

    pub(super) fn issue(&mut self, session: &Session) -> bool {
        self.issue_as(Kind::Main, session)
    }

    /// A new session (login, or brought back by the remember cookie): its cookie, and with
    /// `remember` the remember cookie beside it.
    pub(super) fn issue_new(&mut self, session: &Session, remember: &Session) -> bool {
        if !self.issue(session) {
            return false;
        }
        if self.filter.config.remember {
            self.issue_as(Kind::Remember, remember);
        }
        true
    }

    /// No live session in the cookie: the remember cookie, if live, brings one back.
    pub(super) fn remembered_in_cookie(&mut self, cookies: &str) -> Option<Action> {
        let config = &self.filter.config;
        if !config.remember {
            return None;
        }
        let name = config.remember_cookie_name.clone();
        let t = store::Timeouts::of(config, Kind::Remember);
        let mut remember = cookie::find(cookies, &name)
            .and_then(|v| sealed::open(config, &name, &self.filter.key, v))
            .filter(|s| store::alive(t, s, self.now_s))?;
        remember.rolling_start = self.now_s;
        let session = self.new_session(remember.consumer.clone());
        if !self.issue_new(&session, &remember) {
            return None;
        }
        Some(self.authenticate(session))
    }

    /// `storage: cookie`: a session opened from the cookie. Logout clears the cookie; past three
    /// quarters of its rolling period, or idle for over a minute (Kong's touch threshold), it
    /// is sealed again with the new times.
    pub(super) fn on_cookie_session(&mut self, mut session: Session) -> Action {
        if self.logout_requested() {
            return self.logged_out(Ok(Vec::new()));
        }
        self.await_logout_body();
        let config = &self.filter.config;
        let used = self.now_s.saturating_sub(session.rolling_start);
        let renew = config.rolling_timeout > 0 && used * 4 > config.rolling_timeout * 3;
        let idle = self.now_s.saturating_sub(session.last_seen);
        let touch = config.idling_timeout > 0 && idle > TOUCH_AFTER_S;
        if renew {
            session.rolling_start = self.now_s;
        }
        if renew || touch {
            session.last_seen = self.now_s;
            self.issue(&session);
        }
        self.authenticate(session)
    }
}
