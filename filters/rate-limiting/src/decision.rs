//! From usage to Kong's answer: which period stops the request, the `X-RateLimit-*` and
//! `RateLimit-*` headers, `Retry-After`.

use crate::periods::Period;
use redis_filter_core::decimal;

/// The usage of one period before this request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub period: Period,
    pub limit: u64,
    /// Requests counted before this one (for a sliding window: the weighted estimate).
    pub prior: f64,
    /// Where the window started, for `RateLimit-Reset`.
    pub window_start_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub blocked: bool,
    /// Headers for the client (empty when `hide_client_headers`).
    pub headers: Vec<(String, String)>,
    /// `Retry-After` of a blocked request (none when client headers are hidden, as in Kong).
    pub retry_after: Option<u64>,
}

pub fn decide(usages: &[Usage], now_ms: u64, hide_client_headers: bool) -> Decision {
    // Kong: remaining = limit - usage; a period with remaining <= 0 stops the request.
    let remaining: Vec<f64> = usages.iter().map(|u| u.limit as f64 - u.prior).collect();
    let stop = usages
        .iter()
        .zip(&remaining)
        .filter(|(_, r)| **r <= 0.0)
        .map(|(u, _)| u.period)
        .next_back();
    if hide_client_headers {
        return Decision {
            blocked: stop.is_some(),
            headers: Vec::new(),
            retry_after: None,
        };
    }
    let mut headers = Vec::new();
    // The period with the lowest remaining (ties: the longer window) names RateLimit-*.
    let mut chosen: Option<(u64, i64, u64)> = None; // (limit, remaining, reset)
    let mut chosen_window = 0u64;
    for (u, r) in usages.iter().zip(&remaining) {
        let mut left = r.floor() as i64;
        if stop.is_none() || stop == Some(u.period) {
            left -= 1;
        }
        let left = left.max(0);
        let window = u.period.seconds();
        let better = match chosen {
            None => true,
            Some((_, best, _)) => left < best || (left == best && window > chosen_window),
        };
        if better {
            let elapsed = now_ms.saturating_sub(u.window_start_ms) / 1000;
            let reset = window.saturating_sub(elapsed).max(1);
            chosen = Some((u.limit, left, reset));
            chosen_window = window;
        }
        headers.push((u.period.limit_header().into(), decimal::string(u.limit)));
        headers.push((
            u.period.remaining_header().into(),
            decimal::string(left as u64),
        ));
    }
    let mut retry_after = None;
    if let Some((limit, left, reset)) = chosen {
        headers.push(("RateLimit-Limit".into(), decimal::string(limit)));
        headers.push(("RateLimit-Remaining".into(), decimal::string(left as u64)));
        headers.push(("RateLimit-Reset".into(), decimal::string(reset)));
        if stop.is_some() {
            retry_after = Some(reset);
        }
    }
    Decision {
        blocked: stop.is_some(),
        headers,
        retry_after,
    }
}

/// The sliding-window estimate of Rate Limiting Advanced: the current window's count plus the
/// previous one's, weighted by how much of it still overlaps the sliding window.
pub fn sliding_estimate(
    current: u64,
    previous: u64,
    window_start_ms: u64,
    size_s: u64,
    now_ms: u64,
) -> f64 {
    let size_ms = (size_s * 1000) as f64;
    let elapsed = now_ms.saturating_sub(window_start_ms) as f64;
    let weight = ((size_ms - elapsed) / size_ms).clamp(0.0, 1.0);
    current as f64 + previous as f64 * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_START: u64 = 1_709_214_300_000;

    fn minute(limit: u64, prior: f64) -> Usage {
        Usage {
            period: Period::Minute,
            limit,
            prior,
            window_start_ms: MINUTE_START,
        }
    }

    fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
        d.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn counts_down_and_blocks_at_limit_plus_one() {
        let now = MINUTE_START + 15_500;
        let d = decide(&[minute(3, 0.0)], now, false);
        assert!(!d.blocked);
        assert_eq!(header(&d, "X-RateLimit-Limit-Minute"), Some("3"));
        assert_eq!(header(&d, "X-RateLimit-Remaining-Minute"), Some("2"));
        assert_eq!(header(&d, "RateLimit-Limit"), Some("3"));
        assert_eq!(header(&d, "RateLimit-Remaining"), Some("2"));
        assert_eq!(header(&d, "RateLimit-Reset"), Some("45"));
        let d = decide(&[minute(3, 2.0)], now, false);
        assert!(!d.blocked);
        assert_eq!(header(&d, "RateLimit-Remaining"), Some("0"));
        let d = decide(&[minute(3, 3.0)], now, false);
        assert!(d.blocked);
        assert_eq!(header(&d, "X-RateLimit-Remaining-Minute"), Some("0"));
        assert_eq!(d.retry_after, Some(45));
    }

    #[test]
    fn ratelimit_headers_follow_the_lowest_remaining_and_ties_go_to_the_longer_window() {
        let now = MINUTE_START + 1000;
        let second = Usage {
            period: Period::Second,
            limit: 10,
            prior: 0.0,
            window_start_ms: now,
        };
        let hour = Usage {
            period: Period::Hour,
            limit: 100,
            prior: 95.0,
            window_start_ms: MINUTE_START - 45 * 60_000,
        };
        let d = decide(&[second, minute(50, 0.0), hour], now, false);
        assert_eq!(header(&d, "RateLimit-Limit"), Some("100"));
        assert_eq!(header(&d, "RateLimit-Remaining"), Some("4"));
        assert_eq!(
            header(&d, "RateLimit-Reset"),
            Some(&*(3600 - 45 * 60 - 1).to_string())
        );
        let a = Usage {
            period: Period::Second,
            limit: 5,
            prior: 0.0,
            window_start_ms: now,
        };
        let d = decide(&[a, minute(5, 0.0)], now, false);
        assert_eq!(
            header(&d, "RateLimit-Reset"),
            Some("59"),
            "tie: the minute wins"
        );
    }

    #[test]
    fn a_stop_in_one_period_leaves_the_others_remaining_unchanged() {
        let now = MINUTE_START;
        let second = Usage {
            period: Period::Second,
            limit: 1,
            prior: 1.0,
            window_start_ms: now,
        };
        let d = decide(&[second, minute(10, 4.0)], now, false);
        assert!(d.blocked);
        assert_eq!(header(&d, "X-RateLimit-Remaining-Second"), Some("0"));
        assert_eq!(header(&d, "X-RateLimit-Remaining-Minute"), Some("6"));
        assert_eq!(d.retry_after, Some(1));
    }

    #[test]
    fn hidden_headers_hide_retry_after_too() {
        let d = decide(&[minute(1, 5.0)], MINUTE_START, true);
        assert!(d.blocked);
        assert!(d.headers.is_empty());
        assert_eq!(d.retry_after, None);
    }

    #[test]
    fn sliding_weights_the_previous_window() {
        let start = 60_000;
        assert_eq!(sliding_estimate(2, 10, start, 60, start), 12.0);
        assert_eq!(sliding_estimate(2, 10, start, 60, start + 45_000), 4.5);
        assert_eq!(sliding_estimate(2, 10, start, 60, start + 60_000), 2.0);
    }
}
