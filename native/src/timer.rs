//! Wake-ups for streams that wait: Envoy gives an HTTP filter no timer, so a thread of the
//! module's own keeps the deadlines and, when one passes, commits an event to the stream's
//! scheduler; Envoy then calls `on_http_filter_scheduled` on the stream's worker. A stream that
//! waits on Redis is woken this way so its worker's roots tick (proxy-cache polls the requests
//! waiting on another's fetch, rate limiting flushes `sync_rate`) even when no response comes.

use crate::abi;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The event of a wake-up (`wakes.rs`).
pub const WAKE: u64 = 0;
/// The event that hands a worker the answers of its Redis calls (`mailbox.rs`).
pub const ANSWERS: u64 = 1;

/// A stream's scheduler, shared with the timer thread; `None` once the stream is gone (the
/// thread then commits nothing: the scheduler is freed under this lock).
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

    /// Posts `event` to the stream's worker (`WAKE` or `ANSWERS`); from any thread.
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

struct Wake {
    at: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Wake {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Wake {}
impl PartialOrd for Wake {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Wake {
    /// Earliest first out of the (max-)heap.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn sender() -> &'static Mutex<Sender<Wake>> {
    static SENDER: OnceLock<Mutex<Sender<Wake>>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("redis-filters-timer".into())
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            // Waiting streams are then woken only by their own answers.
            abi::log(
                abi::LOG_ERROR,
                &format!("redis_filters: no timer thread: {e}"),
            );
        }
        Mutex::new(tx)
    })
}

/// Wakes the stream behind `slot` after `after`.
pub fn wake(slot: &Arc<Slot>, after: Duration) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let wake = Wake {
        at: Instant::now() + after,
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        slot: slot.clone(),
    };
    let _ = sender()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(wake);
}

fn run(rx: Receiver<Wake>) {
    let mut due: BinaryHeap<Wake> = BinaryHeap::new();
    loop {
        let wait = due.peek().map_or(Duration::from_secs(3600), |w| {
            w.at.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(wait) {
            Ok(wake) => due.push(wake),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while due.peek().is_some_and(|w| w.at <= now) {
            if let Some(w) = due.pop() {
                w.slot.commit(WAKE);
            }
        }
    }
}
