//! A stream's scheduler, through which the module's own threads reach a worker: Envoy runs an
//! event committed to it as `on_http_filter_scheduled` on the stream's worker, and skips it if
//! the stream has gone. The events: a worker's Redis answers (`mailbox.rs`) and wake-ups
//! (`wakes.rs`).

use crate::abi;
use std::sync::{Arc, Mutex};

/// The event that hands a worker the answers of its Redis calls (`mailbox.rs`).
pub const ANSWERS: u64 = 1;
/// Wake-ups (`wakes.rs`) are the events from this one up, one number per wake-up armed, so a
/// worker knows a stale one.
pub const FIRST_WAKE: u64 = 2;

/// A stream's scheduler, shared with the module's threads; `None` once the stream is gone (they
/// then commit nothing: the scheduler is freed under this lock).
#[derive(Default)]
pub struct Slot(Mutex<Option<usize>>);

impl Slot {
    /// A slot holding a new scheduler of stream `filter` (on its worker, in a hook).
    pub fn new(filter: abi::FilterEnvoyPtr) -> Arc<Slot> {
        // SAFETY: a live stream's handle, on its worker.
        let scheduler =
            unsafe { abi::envoy_dynamic_module_callback_http_filter_scheduler_new(filter) };
        let held = (!scheduler.is_null()).then_some(scheduler as usize);
        Arc::new(Slot(Mutex::new(held)))
    }

    /// A slot standing for a live scheduler, for unit tests (the callbacks do nothing there).
    #[cfg(test)]
    pub fn fake() -> Arc<Slot> {
        Arc::new(Slot(Mutex::new(Some(1))))
    }

    /// Frees the scheduler; no wake-up reaches the stream after this.
    pub fn close(&self) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(scheduler) = held.take() {
            // SAFETY: made by `scheduler_new`, freed once (taken under the lock).
            unsafe {
                abi::envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler as _)
            }
        }
    }

    /// Posts `event` to the stream's worker (`ANSWERS` or a wake-up); from any thread.
    pub fn commit(&self, event: u64) {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(scheduler) = *held {
            // SAFETY: alive while held under the lock; commit may be called from any thread.
            unsafe {
                abi::envoy_dynamic_module_callback_http_filter_scheduler_commit(
                    scheduler as _,
                    event,
                )
            }
        }
    }
}
