//! Stop trying a failing Redis node for a short while: after `threshold` failures in a row, calls
//! are refused at once for `window_ms`, then one is let through to probe; a success closes it.
//! So an outage costs a few requests a full timeout, not every request.

#[derive(Debug, Clone)]
pub struct Backoff {
    threshold: u32,
    window_ms: u64,
    failures: u32,
    open_until_ms: u64,
}

impl Backoff {
    pub fn new(threshold: u32, window_ms: u64) -> Self {
        Self {
            threshold: threshold.max(1),
            window_ms,
            failures: 0,
            open_until_ms: 0,
        }
    }

    pub fn allows(&self, now_ms: u64) -> bool {
        self.failures < self.threshold || now_ms >= self.open_until_ms
    }

    pub fn success(&mut self) {
        self.failures = 0;
    }

    pub fn failure(&mut self, now_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.threshold {
            self.open_until_ms = now_ms + self.window_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_window() {
        let mut b = Backoff::new(3, 1000);
        b.failure(0);
        b.failure(10);
        assert!(b.allows(20));
        b.failure(20);
        assert!(!b.allows(500));
        assert!(b.allows(1020));
        b.failure(1100); // the probe failed: closed again for a window
        assert!(!b.allows(1500));
        assert!(b.allows(2100));
        b.success();
        assert!(b.allows(2101));
    }
}
