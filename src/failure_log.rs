//! Redis failures logged at most once an interval, with the count of those silenced since: an
//! outage must not flood the host's log (every filter uses it).

use crate::filter_host::{FilterHost, LogLevel};
use std::cell::Cell;

/// At most one log line per interval for a run of Redis failures.
#[derive(Default)]
pub struct FailureLog {
    last_ms: Cell<Option<u64>>,
    suppressed: Cell<u64>,
}

/// How long a logged failure silences the next ones.
pub const FAILURE_LOG_INTERVAL_MS: u64 = 1000;

impl FailureLog {
    /// Logs a Redis failure at `error` through `host`, unless this run of failures was logged
    /// less than an interval ago (then it is only counted, for the next line).
    pub fn report(&self, host: &dyn FilterHost, line: &str) {
        if let Some(line) = self.line(host.now_ms(), line) {
            host.log(LogLevel::Error, &line);
        }
    }

    /// The line to log for a failure at `now_ms`, or None while it is silenced (then counted).
    pub fn line(&self, now_ms: u64, line: &str) -> Option<String> {
        if let Some(last) = self.last_ms.get() {
            if now_ms < last + FAILURE_LOG_INTERVAL_MS {
                self.suppressed.set(self.suppressed.get() + 1);
                return None;
            }
        }
        self.last_ms.set(Some(now_ms));
        match self.suppressed.replace(0) {
            0 => Some(line.to_string()),
            n => Some(format!("{line} ({n} more failures since the last line)")),
        }
    }
}
