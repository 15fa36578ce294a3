//! A stream's scheduler, through which the module's own threads reach a worker: Envoy runs an
//! event committed to it as `on_http_filter_scheduled` on the stream's worker, and skips it if
//! the stream has gone. The events: a worker's Redis answers (`mailbox.rs`) and wake-ups
//! (`wakes.rs`). A config's scheduler reaches the main thread the same way
//! (`on_http_filter_config_scheduled`), where the roots that tick for idle workers run
//! (`idle.rs`).

use crate::abi;
use std::sync::{Arc, Mutex};

/// The event that hands a worker the answers of its Redis calls (`mailbox.rs`).
pub const ANSWERS: u64 = 1;
/// Wake-ups (`wakes.rs`) are the events from this one up, one number per wake-up armed, so a
/// worker knows a stale one.
pub const FIRST_WAKE: u64 = 2;

/// The event that runs the main thread's roots for idle workers (`idle.rs`), on a config's
/// scheduler.
pub const IDLE_TICK: u64 = 2;

/// Whose scheduler a slot holds.
#[derive(Clone, Copy)]
enum Kind {
    /// A stream's: its events run on its worker.
    Stream,
    /// A config's: its events run on the main thread.
    Config,
}

/// A stream's or a config's scheduler, shared with the module's threads; `None` once the stream
/// or config is gone (they then commit nothing: the scheduler is freed under this lock).
pub struct Slot {
    kind: Kind,
    held: Mutex<Option<usize>>,
}

impl Slot {
    fn holding(kind: Kind, scheduler: *mut std::ffi::c_void) -> Arc<Slot> {
        let held = (!scheduler.is_null()).then_some(scheduler as usize);
        Arc::new(Slot {
            kind,
            held: Mutex::new(held),
        })
    }

    /// A slot holding a new scheduler of stream `filter` (on its worker, in a hook).
    pub fn new(filter: abi::FilterEnvoyPtr) -> Arc<Slot> {
        // SAFETY: a live stream's handle, on its worker.
        let scheduler =
            unsafe { abi::envoy_dynamic_module_callback_http_filter_scheduler_new(filter) };
        Slot::holding(Kind::Stream, scheduler)
    }

    /// A slot holding a new scheduler of config `config` (on the main thread).
    pub fn of_config(config: abi::ConfigEnvoyPtr) -> Arc<Slot> {
        // SAFETY: a live config's handle, on the main thread.
        let scheduler =
            unsafe { abi::envoy_dynamic_module_callback_http_filter_config_scheduler_new(config) };
        Slot::holding(Kind::Config, scheduler)
    }

    /// A slot standing for a live scheduler, for unit tests (the callbacks do nothing there).
    #[cfg(test)]
    pub fn fake() -> Arc<Slot> {
        Arc::new(Slot {
            kind: Kind::Stream,
            held: Mutex::new(Some(1)),
        })
    }

    /// Frees the scheduler; no event reaches the stream or config after this.
    pub fn close(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(scheduler) = held.take() {
            // SAFETY: made by `scheduler_new` of its kind, freed once (taken under the lock).
            unsafe {
                match self.kind {
                    Kind::Stream => {
                        abi::envoy_dynamic_module_callback_http_filter_scheduler_delete(
                            scheduler as _,
                        )
                    }
                    Kind::Config => {
                        abi::envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
                            scheduler as _,
                        )
                    }
                }
            }
        }
    }

    /// Posts `event` to the stream's worker or the main thread; from any thread.
    pub fn commit(&self, event: u64) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(scheduler) = *held {
            // SAFETY: alive while held under the lock; commit may be called from any thread.
            unsafe {
                match self.kind {
                    Kind::Stream => {
                        abi::envoy_dynamic_module_callback_http_filter_scheduler_commit(
                            scheduler as _,
                            event,
                        )
                    }
                    Kind::Config => {
                        abi::envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                            scheduler as _,
                            event,
                        )
                    }
                }
            }
        }
    }
}
