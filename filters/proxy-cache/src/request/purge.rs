//! The purge endpoint: `<method> <path>/<cache key>` with the secret deletes one entry.

use super::*;
use redis_filter_core::hmac::constant_time_eq;

impl CacheRequest {
    /// `<method> <path>/<cache key>` with the secret: deletes one entry (204, or 404).
    pub(super) fn purge(&mut self, key: &str) -> Action {
        self.reply = Reply::Answered { newline: None };
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
                let deleted = memory::delete(host.shared_data(), &self.keys.entry, host.now_ms());
                self.purged(deleted)
            }
            Strategy::Redis => {
                let Some(client) = &filter.client else {
                    return self.purged(Err("no redis client".into()));
                };
                let max = filter.config.redis.max_redirections();
                let job = store::purge_job(&self.keys.entry, max);
                match client.submit(self.id, Step::Purge.code(), Box::new(job)) {
                    Submitted::Pending => Action::Pause,
                    Submitted::Done(outcome) => self.purged(store::deleted(outcome)),
                }
            }
        }
    }

    pub(super) fn purged(&mut self, deleted: Result<bool, String>) -> Action {
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
                    .redis_failed(&format!("[proxy-cache] purge: {e}"));
                respond::kong_error(host, NAME, 500, "An unexpected error occurred", &[])
            }
        }
    }
}
