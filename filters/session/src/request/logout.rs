//! Logout: by the query (`logout_query_arg`) or, with `read_body_for_logout`, the body
//! (`logout_post_arg`); Kong's answer, 200 with an empty body and the cookie cleared.

use super::*;

impl SessionRequest {
    pub(super) fn logout_requested(&self) -> bool {
        let config = &self.filter.config;
        if !config.logout_methods.iter().any(|m| *m == self.method) {
            return false;
        }
        let Some((_, query)) = self.path.split_once('?') else {
            return false;
        };
        query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(k, _)| k);
            name == config.logout_query_arg
        })
    }

    /// `read_body_for_logout`: a request that may carry `logout_post_arg` in its body (a
    /// method that has one and is in `logout_methods`) is read to its end before it goes on.
    pub(super) fn await_logout_body(&mut self) {
        let config = &self.filter.config;
        let has_body = matches!(self.method.as_str(), "DELETE" | "PATCH" | "POST" | "PUT");
        if config.read_body_for_logout
            && has_body
            && config.logout_methods.iter().any(|m| *m == self.method)
        {
            self.logout_body = Some(Vec::new());
        }
    }

    /// Whether a form (`a=1&session_logout=x`) or JSON body carries `logout_post_arg` (any
    /// value but `false` and `null`, as Lua reads it).
    pub(super) fn body_asks_logout(&self, body: &[u8]) -> bool {
        let arg = &self.filter.config.logout_post_arg;
        let content_type = self
            .filter
            .host
            .request_header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.contains("json") {
            let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            return !matches!(
                value.get(arg.as_str()),
                None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false))
            );
        }
        String::from_utf8_lossy(body).split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(k, _)| k);
            name == arg.as_str()
        })
    }

    /// The body said logout: the session goes (from Redis, with `storage: redis`) and the
    /// request gets Kong's logout answer.
    pub(super) fn logout_from_body(&mut self) -> Action {
        if self.in_cookie() {
            return self.logged_out(Ok(Vec::new()));
        }
        self.destroy()
    }

    /// Deletes the session (and its remember session) from Redis, then answers the logout.
    pub(super) fn destroy(&mut self) -> Action {
        let mut ids = Vec::new();
        if let Some(sid) = &self.sid {
            ids.push((Kind::Main, sid.as_str()));
        }
        if let Some(rsid) = &self.rsid {
            ids.push((Kind::Remember, rsid.as_str()));
        }
        if ids.is_empty() {
            return self.logged_out(Ok(Vec::new()));
        }
        let job = store::destroy_job(&self.filter.config, &ids);
        match self.submit(self.id, Step::Logout, job) {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.logged_out(outcome),
        }
    }

    pub(super) fn logged_out(&mut self, outcome: Outcome) -> Action {
        if let Err(e) = store::done(outcome) {
            // Kong warns and answers the logout all the same.
            self.filter
                .redis_failed(&format!("[session] could not destroy the session: {e}"));
        }
        let config = &self.filter.config;
        let clear = cookie::clear_cookie(config);
        let clear_remember = cookie::clear_remember_cookie(config);
        let mut headers = vec![("Set-Cookie", clear.as_str())];
        if config.remember {
            headers.push(("Set-Cookie", clear_remember.as_str()));
        }
        if self.filter.host.send_response(200, &headers, b"") {
            return Action::Pause;
        }
        Action::Continue
    }
}
