//! `storage: cookie`: the session sealed into the cookie, opened, resealed.

use super::*;

impl SessionRequest {
    /// `storage: cookie`: the session sealed into the cookie the response carries.
    pub(super) fn issue(&mut self, session: &Session) -> bool {
        let mut nonce = [0u8; NONCE_BYTES];
        if !self.filter.host.random(&mut nonce) {
            return false;
        }
        let config = &self.filter.config;
        match sealed::seal(config, &self.filter.key, &nonce, session) {
            Some(value) => {
                self.set_cookie = Some(cookie::set_cookie(config, &value));
                true
            }
            None => false,
        }
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
