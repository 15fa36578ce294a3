//! The one registry of the guest: the live contexts, the context whose callback is running, the
//! Redis clients of each root, and what the host lets one context do for another. The exports
//! reach it through one thread-local; it is never borrowed across a call into a filter or into
//! a host function that might call back.

use super::abi::{self, LogLevel, Stream};
use super::context::{Action, HttpContext, RootContext};
use crate::fast_hash::FastMap;
use crate::transport::{Affinity, CallResponse, Finished};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub type RootFactory = fn(u32) -> Box<dyn RootContext>;
type SharedRoot = Rc<RefCell<Box<dyn RootContext>>>;
type SharedHttp = Rc<RefCell<Box<dyn HttpContext>>>;

/// What the registry asks of a root's client of the host's calls (`proxy::redis::RedisClient`).
pub trait CallOwner {
    /// The context whose callback dispatched call `token`, if the call is this client's.
    fn call_context(&self, token: u32) -> Option<u32>;
    fn on_response(&mut self, token: u32, response: &CallResponse);
    fn tick(&mut self);
    /// The context went away: its work goes, and its calls where only it could hear them.
    fn cancel(&mut self, context_id: u32);
    fn take_finished(&mut self) -> Vec<Finished>;
    /// Whether `take_finished` has anything (asked after every callback, so it costs nothing).
    fn has_finished(&self) -> bool;
    /// Holds this client's calls back until `release` (`hold_calls`).
    fn hold(&mut self);
    fn release(&mut self);
    /// Whether a job of context `context_id` is under way.
    fn waits_for(&self, context_id: u32) -> bool;
}

type SharedOwner = Rc<RefCell<dyn CallOwner>>;

struct RootEntry {
    ctx: SharedRoot,
    clients: Vec<Weak<RefCell<dyn CallOwner>>>,
}

struct HttpEntry {
    ctx: SharedHttp,
    root: u32,
    /// The stream this context paused, to resume when its Redis work is done.
    paused: Option<Stream>,
}

#[derive(Default)]
struct Runtime {
    factory: Option<RootFactory>,
    roots: FastMap<u32, RootEntry>,
    https: FastMap<u32, HttpEntry>,
    current: u32,
    /// Whether the running callback is a call's answer.
    in_call_response: bool,
    affinity: Option<Affinity>,
    /// The host's time, read once per callback (`now_ms`).
    now_ms: Option<u64>,
    /// Set by `redis-chain` while one of its filters runs: the filter's place, carried in the
    /// high bits of the tags of the Redis work it submits (`tagged`).
    tag_base: u32,
}

thread_local! {
    static RUNTIME: RefCell<Runtime> = RefCell::new(Runtime::default());
}

fn with<T>(f: impl FnOnce(&mut Runtime) -> T) -> T {
    RUNTIME.with(|r| f(&mut r.borrow_mut()))
}

pub fn set_root_factory(factory: RootFactory) {
    with(|r| r.factory = Some(factory));
}

/// The context the host is calling into right now.
pub fn current_context() -> u32 {
    with(|r| r.current)
}

pub(super) fn enter(context_id: u32) {
    with(|r| {
        r.current = context_id;
        r.in_call_response = false;
        r.now_ms = None;
    });
}

/// The host's time in milliseconds, asked of the host once per callback: a filter's request
/// and the Redis client it submits to read the clock in the same callback, and one host call
/// serves both.
pub fn now_ms() -> u64 {
    if let Some(now) = with(|r| r.now_ms) {
        return now;
    }
    let now = abi::now_ms();
    with(|r| r.now_ms = Some(now));
    now
}

/// The tag bits that name a filter inside `redis-chain` (its place plus one); the low bits are
/// the filter's own step code.
pub const TAG_SHIFT: u32 = 24;

/// While `redis-chain` runs its filter number `place` (from 1; 0 when none runs), the Redis
/// work submitted carries that number in its tag, so the answer finds the filter again.
pub fn set_tag_base(place: u32) {
    with(|r| r.tag_base = place);
}

/// `tag` with the running chain filter's place in its high bits.
pub(super) fn tagged(tag: u32) -> u32 {
    with(|r| tag | (r.tag_base << TAG_SHIFT))
}

/// Holds back the calls of every Redis client: what the running callback submits until the
/// returned guard goes leaves as one pipeline per node (`redis-chain`, whose filters'
/// independent commands take one round trip together).
pub fn hold_calls() -> HeldCalls {
    let held = clients_of(None)
        .into_iter()
        .filter(|client| match client.try_borrow_mut() {
            Ok(mut c) => {
                c.hold();
                true
            }
            Err(_) => false,
        })
        .collect();
    HeldCalls(held)
}

/// The clients `hold_calls` held; each is released, once, when this goes.
pub struct HeldCalls(Vec<SharedOwner>);

impl Drop for HeldCalls {
    fn drop(&mut self) {
        for client in &self.0 {
            match client.try_borrow_mut() {
                Ok(mut c) => c.release(),
                Err(_) => abi::log(
                    LogLevel::Error,
                    "redis: a held client is busy; not released",
                ),
            }
        }
    }
}

/// Whether the running callback may dispatch a call for `root` (its own work). ngx_wasm_module
/// crashes the worker (SIGSEGV) when a root context dispatches from the answer of its own call
/// (the call from `on_tick` runs on a fake request that the engine frees around the callback):
/// there, a root's follow-up calls wait for its next tick.
#[cfg_attr(feature = "higress", allow(dead_code))]
pub(super) fn root_may_dispatch(root: u32) -> bool {
    with(|r| !(r.in_call_response && r.current == root && r.affinity == Some(Affinity::PerContext)))
}

/// Whether the running callback may read the request's own properties (`request.id`,
/// `request.headers.*`, ...). Not in the answer of a call on Kong's engine: there ngx_wasm_module
/// looks them up through the chain's current filter index, which points at the chain's first
/// filter while a later one's call is answered, and once that first filter's instance has
/// served a tick or another request the lookup reads freed memory (the worker dies on signal 11:
/// engine bug 10 of docs/kong-engine.md).
pub fn request_properties_readable() -> bool {
    with(|r| !(r.in_call_response && r.affinity == Some(Affinity::PerContext)))
}

/// Whether the host lets one context act for another. Asked of the host once, from the first
/// root callback: `proxy_set_effective_context` with an id no context has is refused by a host
/// that honours the call (Envoy) and accepted by one that ignores it (ngx_wasm_module, where
/// it is a no-op that returns OK and a request resumes only from its own callbacks).
pub fn affinity() -> Affinity {
    if let Some(a) = with(|r| r.affinity) {
        return a;
    }
    let current = current_context();
    let probe = abi::set_effective_context(NO_SUCH_CONTEXT);
    let affinity = match probe {
        Ok(()) => Affinity::PerContext,
        Err(_) => Affinity::Shared,
    };
    if current != 0 {
        let _ = abi::set_effective_context(current);
    }
    with(|r| r.affinity = Some(affinity));
    affinity
}

/// Whether refusing a config in `on_configure` would take the host's worker down. Kong's engine
/// (ngx_wasm_module) exits the worker for good ("fatal code 2") and every location then hangs;
/// it is also the one host known to ignore `proxy_set_effective_context`, which is how it is
/// told apart (see `affinity`).
pub fn refusing_config_is_fatal() -> bool {
    affinity() == Affinity::PerContext
}

/// A context id no host hands out (they count up from 1).
const NO_SUCH_CONTEXT: u32 = u32::MAX - 7;

/// Called by `RedisClient::new`: the root owns the client's calls.
pub(super) fn register_client(root: u32, client: SharedOwner) {
    with(|r| {
        if let Some(entry) = r.roots.get_mut(&root) {
            entry.clients.retain(|c| c.strong_count() > 0);
            entry.clients.push(Rc::downgrade(&client));
        }
    });
}

fn clients_of(root: Option<u32>) -> Vec<SharedOwner> {
    with(|r| {
        r.roots
            .iter()
            .filter(|(id, _)| root.is_none_or(|want| **id == want))
            .flat_map(|(_, e)| e.clients.iter().filter_map(Weak::upgrade))
            .collect()
    })
}

fn root(id: u32) -> Option<SharedRoot> {
    with(|r| r.roots.get(&id).map(|e| e.ctx.clone()))
}

fn http(id: u32) -> Option<SharedHttp> {
    with(|r| r.https.get(&id).map(|e| e.ctx.clone()))
}

fn paused_on(id: u32) -> Option<Stream> {
    with(|r| r.https.get(&id).and_then(|e| e.paused))
}

fn set_paused(id: u32, stream: Option<Stream>) -> Option<Stream> {
    with(|r| {
        r.https
            .get_mut(&id)
            .and_then(|e| std::mem::replace(&mut e.paused, stream))
    })
}

pub(super) fn create_context(context_id: u32, root_context_id: u32) {
    enter(context_id);
    if root_context_id == 0 {
        let Some(factory) = with(|r| r.factory) else {
            return;
        };
        let ctx = Rc::new(RefCell::new(factory(context_id)));
        with(|r| {
            r.roots.insert(
                context_id,
                RootEntry {
                    ctx,
                    clients: Vec::new(),
                },
            )
        });
        return;
    }
    let created = root(root_context_id).and_then(|r| {
        r.try_borrow_mut()
            .ok()
            .and_then(|mut r| r.create_http_context(context_id))
    });
    if let Some(ctx) = created {
        let entry = HttpEntry {
            ctx: Rc::new(RefCell::new(ctx)),
            root: root_context_id,
            paused: None,
        };
        with(|r| r.https.insert(context_id, entry));
    }
}

pub(super) fn with_root<T>(id: u32, default: T, f: impl FnOnce(&mut dyn RootContext) -> T) -> T {
    enter(id);
    let result = match root(id) {
        Some(r) => match r.try_borrow_mut() {
            Ok(mut r) => f(r.as_mut()),
            Err(_) => default,
        },
        None => default,
    };
    deliver_finished();
    result
}

/// The periodic work root `id` holds, taken from it for another root of its config
/// (`RootContext::hand_over`); for a native host that cannot tick an idle worker.
pub fn hand_over(id: u32) -> Option<Vec<u8>> {
    with_root(id, None, |r| r.hand_over())
}

/// Whether Redis work root `id` submitted itself (a `sync_rate` flush) is under way: a native
/// host whose worker would go idle meanwhile keeps its last stream until it is done.
pub fn root_waits(id: u32) -> bool {
    clients_of(Some(id))
        .iter()
        .any(|c| c.try_borrow().is_ok_and(|c| c.waits_for(id)))
}

/// Root `id` takes over `work` another root of its config handed over.
pub fn take_over(id: u32, work: &[u8]) {
    with_root(id, (), |r| r.take_over(work))
}

/// Whether root `id` ever has Redis work of its own or work to hand over (fixed by its config).
pub fn root_works(id: u32) -> bool {
    with_root(id, false, |r| r.root_works())
}

/// Whether root `id`'s tick still has work to do.
pub fn holds_work(id: u32) -> bool {
    with_root(id, false, |r| r.holds_work())
}

/// Runs an HTTP callback. `Pause` pauses `stream` until the context's Redis work is done.
pub(super) fn with_http(
    id: u32,
    stream: Stream,
    f: impl FnOnce(&mut dyn HttpContext) -> Action,
) -> Action {
    enter(id);
    let action = match http(id) {
        Some(ctx) => match ctx.try_borrow_mut() {
            Ok(mut c) => f(c.as_mut()),
            Err(_) => Action::Continue,
        },
        None => Action::Continue,
    };
    if action == Action::Pause {
        set_paused(id, Some(stream));
    }
    deliver_finished();
    action
}

/// A body or trailers callback: while the context waits for Redis on this stream it stays
/// paused (the host buffers), whatever the filter would say. (A request paused for good by a
/// local response sees response callbacks for that response: those go on.)
pub(super) fn with_http_data(
    id: u32,
    stream: Stream,
    f: impl FnOnce(&mut dyn HttpContext) -> Action,
) -> Action {
    enter(id);
    if paused_on(id) == Some(stream) {
        return Action::Pause;
    }
    with_http(id, stream, f)
}

pub(super) fn delete(context_id: u32) {
    enter(context_id);
    let removed = with(|r| {
        let http = r.https.remove(&context_id);
        let root = r.roots.remove(&context_id);
        (http, root)
    });
    if let Some(entry) = &removed.0 {
        for client in clients_of(Some(entry.root)) {
            if let Ok(mut c) = client.try_borrow_mut() {
                c.cancel(context_id);
            }
        }
    }
    // Dropped here, outside the registry borrow.
    drop(removed);
}

/// The answer of call `token`, delivered by the host with `context_id`: handed to the client
/// whose multiplexer made the call (an expired or cancelled call has no owner any more and is
/// ignored), then the finished jobs are delivered. Where a context acts only for itself (Kong's
/// engine) the callback runs for the context that dispatched the call, and that is the context
/// entered, whatever id the host passed: ngx_wasm_module passes the filter's id, not a context's.
pub(super) fn call_response(context_id: u32, token: u32, read: impl FnOnce() -> CallResponse) {
    let owner = clients_of(None).into_iter().find_map(|c| {
        let dispatcher = c.try_borrow().ok()?.call_context(token)?;
        Some((c, dispatcher))
    });
    let Some((client, dispatcher)) = owner else {
        enter(context_id);
        abi::log(
            LogLevel::Debug,
            &format!("answer to unknown call {token} ignored"),
        );
        return;
    };
    let entered = match affinity() {
        Affinity::PerContext => {
            // What the proxy-wasm crate does first in this callback: a host that runs it on
            // the root (Envoy, the harness' wasmtime host) moves to the caller; Kong's engine
            // runs it on the caller already and ignores the call.
            let _ = abi::set_effective_context(dispatcher);
            dispatcher
        }
        Affinity::Shared => context_id,
    };
    enter(entered);
    with(|r| r.in_call_response = true);
    let response = read();
    match client.try_borrow_mut() {
        Ok(mut c) => c.on_response(token, &response),
        Err(_) => abi::log(LogLevel::Error, "redis client busy; answer dropped"),
    }
    deliver_finished();
}

/// Ticks the clients of root `root_id` (expiries, lookups), then delivers.
pub(super) fn tick_clients(root_id: u32) {
    enter(root_id);
    for client in clients_of(Some(root_id)) {
        if let Ok(mut c) = client.try_borrow_mut() {
            c.tick();
        }
    }
    deliver_finished();
}

/// Hands finished Redis jobs to their contexts and resumes the ones that continue. Where the
/// host lets one context act for another (Envoy) a job of another context is delivered with
/// that context made effective; where it does not (Kong's engine) only the running context's
/// jobs can finish here, by construction of the multiplexer, and anything else is a bug that
/// is logged, never acted on.
fn deliver_finished() {
    let current = current_context();
    let mut effective = current;
    loop {
        if !any_finished() {
            break;
        }
        let finished: Vec<Finished> = clients_of(None)
            .iter()
            .filter_map(|c| c.try_borrow_mut().ok().map(|mut c| c.take_finished()))
            .flatten()
            .collect();
        if finished.is_empty() {
            break;
        }
        for f in finished {
            let id = f.waiter.context_id;
            if id != current && affinity() == Affinity::PerContext {
                abi::log(
                    LogLevel::Error,
                    &format!("redis: a reply for context {id} reached context {current}; dropped"),
                );
                continue;
            }
            if id != effective {
                if abi::set_effective_context(id).is_err() {
                    abi::log(LogLevel::Debug, "redis: context gone before its reply");
                    continue;
                }
                effective = id;
            }
            switch_to(id);
            deliver(id, f);
        }
    }
    if effective != current {
        let _ = abi::set_effective_context(current);
    }
    switch_to(current);
}

/// Whether a client has finished jobs to deliver, without collecting the clients (this runs
/// after every callback, and nearly always finds nothing).
fn any_finished() -> bool {
    with(|r| {
        r.roots.values().any(|e| {
            e.clients.iter().any(|c| {
                c.upgrade()
                    .is_some_and(|c| c.try_borrow().is_ok_and(|c| c.has_finished()))
            })
        })
    })
}

/// The context the running callback acts for now (delivery to another context, where allowed).
fn switch_to(context_id: u32) {
    with(|r| r.current = context_id);
}

fn deliver(id: u32, f: Finished) {
    let Some(ctx) = http(id) else {
        if let Some(r) = root(id) {
            if let Ok(mut r) = r.try_borrow_mut() {
                r.on_redis(f.waiter.tag, f.outcome);
            }
        }
        return;
    };
    let action = match ctx.try_borrow_mut() {
        Ok(mut c) => c.on_redis(f.waiter.tag, f.outcome),
        Err(_) => return,
    };
    if action == Action::Continue {
        if let Some(stream) = set_paused(id, None) {
            if let Err(s) = abi::resume(stream) {
                abi::log(
                    LogLevel::Warn,
                    &format!("redis: resume failed (status {})", s.0),
                );
            }
        }
    }
}
