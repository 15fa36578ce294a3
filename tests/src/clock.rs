//! Waits for the clock itself, where the clock is what a test is about: a TTL, an idle timeout,
//! a rate window. Anything a test can observe without changing it is waited for with
//! `eventually` instead; these are for states a probe would disturb (a request with a session
//! cookie touches the session it asks about).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Waits until `at` has passed, for `why` (a deadline the test computed from a timeout under
/// test).
pub fn wait_past(why: &str, at: Instant) {
    let left = at.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        eprintln!("waiting {left:?}: {why}");
        std::thread::sleep(left);
    }
}

/// Waits `length` from now, for `why`.
pub fn wait_for(why: &str, length: Duration) {
    wait_past(why, Instant::now() + length);
}

/// Waits until the wall clock's fraction of a second is `at` (within the next second): times in
/// whole seconds are tested at their edges.
pub fn wait_to_fraction_of_second(at: f64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let fraction = f64::from(now.subsec_millis()) / 1000.0;
    let wait = (at - fraction).rem_euclid(1.0);
    std::thread::sleep(Duration::from_secs_f64(wait));
}

/// Waits for the next minute when fewer than `needed` seconds are left in this one: a test that
/// counts within one rate-limit minute.
pub fn wait_for_a_fresh_minute(needed: u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let left = 60 - now.as_secs() % 60;
    if left < needed {
        wait_for("a fresh rate-limit minute", Duration::from_secs(left));
    }
}
