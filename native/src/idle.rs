//! The periodic work of idle workers, done on the main thread. Envoy gives an HTTP filter no
//! timer and a worker no event without a stream, so a worker left with no request cannot tick:
//! rate limiting's `sync_rate` deltas counted just before would wait for its next request. So
//! as a worker's last stream ends, each of its roots hands over the periodic work it holds
//! (`redis_filter_core::proxy::hand_over`); the config's root on the main thread (the one
//! `on_http_filter_config_new` builds) takes it over and ticks, woken through the config's
//! scheduler (`on_http_filter_config_scheduled`) by the timer thread while it holds work. Its
//! Redis calls go over the module's own connections (no stream to carry them), their answers
//! through the main thread's mailbox, held by a config's scheduler. And a worker's last stream
//! does not end while a root's own Redis work is under way (`keeps_last_stream`), or that work
//! would stall with no stream to bring its answers.

use crate::scheduler::{Slot, IDLE_TICK};
use crate::{mailbox, timer, worker};
use redis_filter_core::proxy::{self as runtime, exports as wasm};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Work handed over by workers, waiting for the main thread's next tick.
#[derive(Default)]
struct Handed {
    /// (Envoy's handle of the config, the work).
    work: Vec<(usize, Vec<u8>)>,
    /// A tick of the main thread is on its way.
    armed: bool,
}

fn handed() -> MutexGuard<'static, Handed> {
    static HANDED: Mutex<Handed> = Mutex::new(Handed {
        work: Vec::new(),
        armed: false,
    });
    HANDED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The main thread's mailbox, which the timer thread wakes.
static MAIN: OnceLock<Arc<mailbox::Mailbox>> = OnceLock::new();

thread_local! {
    /// On the main thread: each config's scheduler, in the order the configs came; the first
    /// holds the main thread's mailbox.
    static SCHEDULERS: RefCell<Vec<(usize, Arc<Slot>)>> = const { RefCell::new(Vec::new()) };
}

/// How long the main thread waits before a tick: the root's own period (rate limiting's 100 ms).
const TICK: Duration = Duration::from_millis(100);

/// On the main thread, as config `config` is created: its scheduler, and the main thread's
/// mailbox if no config holds it.
pub fn config_created(config: usize, slot: Arc<Slot>) {
    MAIN.get_or_init(mailbox::mine);
    let first = SCHEDULERS.with(|s| {
        let mut s = s.borrow_mut();
        s.push((config, slot.clone()));
        s.len() == 1
    });
    if first {
        mailbox::held_by(Some(slot));
    }
}

/// On the main thread, as config `config` goes: its scheduler is freed (no event reaches it
/// after this), its handed work dropped, and another config's scheduler holds the mailbox.
pub fn config_destroyed(config: usize) {
    let (gone, next) = SCHEDULERS.with(|s| {
        let mut s = s.borrow_mut();
        let held = s.first().is_some_and(|(c, _)| *c == config);
        let gone: Vec<Arc<Slot>> = s
            .iter()
            .filter(|(c, _)| *c == config)
            .map(|(_, slot)| slot.clone())
            .collect();
        s.retain(|(c, _)| *c != config);
        (gone, held.then(|| s.first().map(|(_, slot)| slot.clone())))
    });
    if let Some(next) = next {
        mailbox::held_by(next);
    }
    for slot in gone {
        slot.close();
    }
    let rearm = {
        let mut h = handed();
        h.work.retain(|(c, _)| *c != config);
        // The tick on its way may have gone with the scheduler: send another.
        std::mem::take(&mut h.armed)
    };
    if rearm {
        arm();
    }
}

/// On a worker whose last stream has ended: its roots' periodic work goes to the main thread.
pub fn worker_idle() {
    let roots: Vec<(usize, u32)> = worker::with(|w| {
        if !w.streams.is_empty() {
            return Vec::new();
        }
        w.working_roots().map(|r| (r.config, r.id)).collect()
    });
    let work: Vec<(usize, Vec<u8>)> = roots
        .into_iter()
        .filter_map(|(config, id)| Some((config, runtime::hand_over(id)?)))
        .collect();
    if work.is_empty() || MAIN.get().is_none() {
        return;
    }
    handed().work.extend(work);
    arm();
}

/// At the end of stream `context`'s response: whether it must wait because it is the worker's
/// last stream and a root of the worker has Redis work of its own under way (a `sync_rate`
/// flush). Its answers reach the worker only through a live stream, and a second round trip (a
/// NOSCRIPT retry, a Cluster redirect) is sent only once they do; so the worker does not go
/// idle first. The response goes on when the work is done (`release_held`).
pub fn keeps_last_stream(context: u32) -> bool {
    let roots: Vec<u32> = worker::with(|w| {
        if w.streams.len() != 1 || !w.streams.contains_key(&context) {
            return Vec::new();
        }
        w.working_roots().map(|r| r.id).collect()
    });
    roots.into_iter().any(runtime::root_waits)
}

/// After the worker's answers or a wake-up: once no root's own work is under way, the responses
/// held for it (`keeps_last_stream`) go on.
pub fn release_held() {
    let (roots, held) = worker::with(|w| {
        let roots: Vec<u32> = w.working_roots().map(|r| r.id).collect();
        if roots.is_empty() {
            return (roots, Vec::new());
        }
        let held: Vec<(u32, crate::abi::FilterEnvoyPtr)> = w
            .streams
            .iter()
            .filter(|(_, s)| s.held && s.carried == 0)
            .map(|(id, s)| (*id, s.envoy))
            .collect();
        (roots, held)
    });
    if held.is_empty() || roots.into_iter().any(runtime::root_waits) {
        return;
    }
    for (id, envoy) in held {
        worker::with(|w| {
            if let Some(s) = w.streams.get_mut(&id) {
                s.waiting = false;
            }
        });
        crate::carried::settle(id, crate::envoy::Stream(envoy));
    }
}

/// Sends the main thread a tick, unless one is on its way.
fn arm() {
    let Some(main) = MAIN.get() else {
        return;
    };
    {
        let mut h = handed();
        if h.armed {
            return;
        }
        h.armed = true;
    }
    timer::wake(main, IDLE_TICK, TICK);
}

/// On the main thread, the tick: the work handed over is taken over by each config's root
/// here, and every working root holding work ticks; another tick follows while any still does.
pub fn tick() {
    let work = {
        let mut h = handed();
        h.armed = false;
        std::mem::take(&mut h.work)
    };
    for (config, work) in work {
        if let Some(id) = worker::with(|w| w.roots.get(&config).map(|r| r.id)) {
            runtime::take_over(id, &work);
        }
    }
    let roots: Vec<u32> = worker::with(|w| w.working_roots().map(|r| r.id).collect());
    let mut again = false;
    for id in roots {
        if runtime::holds_work(id) {
            worker::with(|w| w.effective = id);
            wasm::proxy_on_tick(id);
            again |= runtime::holds_work(id);
        }
    }
    if again {
        arm();
    }
}
