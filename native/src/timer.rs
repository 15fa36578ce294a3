//! Wake-ups for workers whose requests wait: Envoy gives an HTTP filter no timer, so a thread
//! of the module's own keeps the deadlines and, when one passes, commits the wake-up's event to
//! the scheduler of the worker's holder (the live stream its mailbox goes through,
//! `mailbox.rs`); Envoy then calls `on_http_filter_scheduled` on that worker. A worker is woken
//! this way so its roots tick (proxy-cache polls the requests waiting on another's fetch, rate
//! limiting flushes `sync_rate`) even when no response comes (`wakes.rs`).

use crate::abi;
use crate::mailbox::Mailbox;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Wake {
    at: Instant,
    seq: u64,
    worker: Arc<Mailbox>,
    event: u64,
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

/// Sends `event` to the worker of mailbox `worker` after `after`.
pub fn wake(worker: &Arc<Mailbox>, event: u64, after: Duration) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let wake = Wake {
        at: Instant::now() + after,
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        worker: worker.clone(),
        event,
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
                w.worker.commit(w.event);
            }
        }
    }
}
