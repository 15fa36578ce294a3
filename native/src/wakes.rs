//! A worker's wake-up (`timer.rs`) and what it does: the worker's due root ticks (proxy-cache
//! looking an entry up again for the requests waiting on another's fetch, rate limiting's
//! `sync_rate` flush), run in the stream that holds the worker's mailbox (on the tunnel path
//! their calls ride on it). One wake-up is pending per worker while a stream waits on Redis and a
//! root of the worker ticks; it goes to whichever stream holds the mailbox when it is due, so the
//! end of a stream does not cost a new one. Each has an event number of its own: one that was
//! given up (the worker had no stream left) and still arrives is ignored.

use crate::scheduler::FIRST_WAKE;
use crate::worker;
use crate::{mailbox, roots, timer};
use std::time::Duration;

/// After a request hook: `action` 1 (pause) means the stream now waits on Redis.
pub fn paused(context: u32, action: u32) {
    if action == 0 {
        return;
    }
    worker::with(|w| {
        if let Some(s) = w.streams.get_mut(&context) {
            s.waiting = true;
        }
    });
    arm();
}

/// Arms a wake-up if none is pending, a stream waits and a root of this worker ticks.
pub fn arm() {
    let chosen = worker::with(|w| {
        if w.armed.is_some() || w.holder.is_none() || !w.streams.values().any(|s| s.waiting) {
            return None;
        }
        let period = w
            .roots
            .values()
            .map(|r| r.tick_ms)
            .filter(|t| *t > 0)
            .min()?;
        w.wakes = w.wakes.wrapping_add(1);
        let event = FIRST_WAKE.saturating_add(w.wakes);
        w.armed = Some(event);
        Some((event, period))
    });
    if let Some((event, period)) = chosen {
        let after = Duration::from_millis(u64::from(period));
        timer::wake(&mailbox::mine(), event, after);
    }
}

/// Wake-up `event` reached stream `context`: the due ticks (in it), then the next wake-up.
pub fn woken(context: u32, event: u64) {
    let current = worker::with(|w| {
        let current = w.armed == Some(event);
        if current {
            w.armed = None;
        }
        current
    });
    if current {
        roots::tick_due(context);
        arm();
    }
}
