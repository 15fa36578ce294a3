//! Steady load for failover and resharding tests: a few threads send GETs back to back until
//! stopped, and every answer is kept with its time (a failed exchange counts as status 0).

use crate::http::try_request;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub status: u16,
    /// The response carried this header (e.g. `x-ratelimit-remaining-minute`: it was counted).
    pub marked: bool,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// `threads` clients on `addr`; `mark` is the header whose presence each sample records.
    pub fn start(addr: SocketAddr, threads: usize, mark: &'static str) -> Self {
        Self::start_on(addr, "/", threads, mark)
    }

    /// `start` on another path.
    pub fn start_on(
        addr: SocketAddr,
        path: &'static str,
        threads: usize,
        mark: &'static str,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                let answered = answered.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sample = match try_request(addr, "GET", path, &[], b"") {
                            Ok(r) => Sample {
                                at: Instant::now(),
                                status: r.status,
                                marked: r.header(mark).is_some(),
                            },
                            Err(_) => Sample {
                                at: Instant::now(),
                                status: 0,
                                marked: false,
                            },
                        };
                        out.push(sample);
                        answered.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    out
                })
            })
            .collect();
        Self {
            stop,
            answered,
            threads,
        }
    }

    /// Requests answered so far (a failed exchange included).
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    /// Waits until `more` further requests have been answered: a phase of the test has run under
    /// load. Fails the test if they take longer than `timeout`.
    pub fn run_for(&self, more: usize, timeout: Duration) {
        let until = self.answered() + more;
        crate::eventually(&format!("{more} more requests under load"), timeout, || {
            self.answered() >= until
        });
    }

    /// Stops the clients; every sample, in time order.
    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Sample> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|s| s.at);
        all
    }
}

/// Sends requests to `addr` until one carries `mark` (or `timeout` passes); whether one did.
pub fn wait_for_mark(addr: SocketAddr, mark: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if try_request(addr, "GET", "/", &[], b"").is_ok_and(|r| r.header(mark).is_some()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// What a run under load looked like around an event at `event`.
#[derive(Debug)]
pub struct Summary {
    pub total: usize,
    pub failed: usize,
    pub unmarked: usize,
    /// From the event until the first marked sample after the last unmarked one (None: every
    /// sample after the event was marked).
    pub recovered_after: Option<Duration>,
}

pub fn summarize(samples: &[Sample], event: Instant) -> Summary {
    let failed = samples
        .iter()
        .filter(|s| s.status == 0 || s.status >= 500)
        .count();
    let unmarked = samples.iter().filter(|s| !s.marked).count();
    let last_unmarked = samples
        .iter()
        .filter(|s| s.at >= event && !s.marked)
        .map(|s| s.at)
        .max();
    let recovered_after = last_unmarked.and_then(|t| {
        samples
            .iter()
            .find(|s| s.at > t && s.marked)
            .map(|s| s.at.duration_since(event))
    });
    Summary {
        total: samples.len(),
        failed,
        unmarked,
        recovered_after,
    }
}
