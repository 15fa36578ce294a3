//! Which stream of this worker carries the pending wake-up (`timer.rs`), and what a wake-up
//! does: the worker's due root ticks (proxy-cache looking an entry up again for the requests
//! waiting on another's fetch, rate limiting's `sync_rate` flush), carried by the woken stream.
//! One wake-up is pending per worker while a stream waits on Redis and a root of the worker
//! ticks.

use crate::worker;
use crate::{roots, timer};
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

/// Arms a wake-up on a waiting stream if none is pending and a root of this worker ticks.
pub fn arm() {
    let chosen = worker::with(|w| {
        if w.armed.is_some() {
            return None;
        }
        let period = w
            .roots
            .values()
            .map(|r| r.tick_ms)
            .filter(|t| *t > 0)
            .min()?;
        let id = w
            .streams
            .iter()
            .find(|(_, s)| s.waiting)
            .map(|(id, _)| *id)?;
        let slot = w.slot_of(id)?;
        w.armed = Some(id);
        Some((slot, period))
    });
    if let Some((slot, period)) = chosen {
        timer::wake(&slot, Duration::from_millis(u64::from(period)));
    }
}

/// A wake-up reached stream `context`: the due ticks (carried by it), then the next wake-up.
pub fn woken(context: u32) {
    worker::with(|w| {
        if w.armed == Some(context) {
            w.armed = None;
        }
    });
    roots::tick_due(context);
    arm();
}
