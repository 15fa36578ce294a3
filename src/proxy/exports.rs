//! The `proxy_on_*` functions the host calls, and the registry of live contexts. Contexts are
//! borrowed one at a time and never across a host call that might call back in.

use super::context::{Action, HttpContext, RootContext};
use super::host::{self, Buffer, LogLevel, Stream};
use super::redis;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

pub type RootFactory = fn(u32) -> Box<dyn RootContext>;

struct HttpEntry {
    ctx: Rc<RefCell<Box<dyn HttpContext>>>,
    /// The stream this context paused, to resume when its Redis work is done.
    paused: Option<Stream>,
}

#[derive(Default)]
struct Registry {
    factory: Option<RootFactory>,
    roots: HashMap<u32, Rc<RefCell<Box<dyn RootContext>>>>,
    https: HashMap<u32, HttpEntry>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
    static CURRENT: Cell<u32> = const { Cell::new(0) };
}

pub fn set_root_factory(factory: RootFactory) {
    REGISTRY.with(|r| r.borrow_mut().factory = Some(factory));
}

/// The context the host is calling into right now.
pub fn current_context() -> u32 {
    CURRENT.with(Cell::get)
}

pub(super) fn enter(context_id: u32) {
    CURRENT.with(|c| c.set(context_id));
}

fn root(id: u32) -> Option<Rc<RefCell<Box<dyn RootContext>>>> {
    REGISTRY.with(|r| r.borrow().roots.get(&id).cloned())
}

fn http(id: u32) -> Option<Rc<RefCell<Box<dyn HttpContext>>>> {
    REGISTRY.with(|r| r.borrow().https.get(&id).map(|e| e.ctx.clone()))
}

fn set_paused(id: u32, stream: Option<Stream>) -> Option<Stream> {
    REGISTRY.with(|r| {
        r.borrow_mut()
            .https
            .get_mut(&id)
            .and_then(|e| std::mem::replace(&mut e.paused, stream))
    })
}

fn with_root<T>(id: u32, default: T, f: impl FnOnce(&mut dyn RootContext) -> T) -> T {
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

fn with_http(id: u32, stream: Stream, f: impl FnOnce(&mut dyn HttpContext) -> Action) -> u32 {
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
    action as u32
}

/// Hands finished Redis jobs to their HTTP contexts and resumes the ones that continue.
pub(super) fn deliver_finished() {
    loop {
        let finished = redis::take_finished();
        if finished.is_empty() {
            return;
        }
        for f in finished {
            let id = f.waiter.context_id;
            let Some(ctx) = http(id) else {
                if let Some(r) = root(id) {
                    enter(id);
                    let _ = host::set_effective_context(id);
                    if let Ok(mut r) = r.try_borrow_mut() {
                        r.on_redis(f.waiter.tag, f.outcome);
                    }
                }
                continue;
            };
            enter(id);
            if host::set_effective_context(id).is_err() {
                host::log(LogLevel::Debug, "redis: context gone before its reply");
                continue;
            }
            let action = match ctx.try_borrow_mut() {
                Ok(mut c) => c.on_redis(f.waiter.tag, f.outcome),
                Err(_) => continue,
            };
            if action == Action::Continue {
                if let Some(stream) = set_paused(id, None) {
                    if let Err(s) = host::resume(stream) {
                        host::log(
                            LogLevel::Warn,
                            &format!("redis: resume failed (status {})", s.0),
                        );
                    }
                }
            }
        }
    }
}

fn config(kind: Buffer, size: usize) -> Option<Vec<u8>> {
    if size == 0 {
        return None;
    }
    host::buffer(kind, 0, size).ok().flatten()
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut block: Vec<u8> = Vec::with_capacity(size);
    let ptr = block.as_mut_ptr();
    std::mem::forget(block);
    ptr
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    enter(context_id);
    if root_context_id == 0 {
        let Some(factory) = REGISTRY.with(|r| r.borrow().factory) else {
            return;
        };
        let ctx = Rc::new(RefCell::new(factory(context_id)));
        REGISTRY.with(|r| r.borrow_mut().roots.insert(context_id, ctx));
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
            paused: None,
        };
        REGISTRY.with(|r| r.borrow_mut().https.insert(context_id, entry));
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(context_id: u32, size: usize) -> u32 {
    let config = config(Buffer::VmConfiguration, size);
    with_root(context_id, true, |r| r.on_vm_start(config)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, size: usize) -> u32 {
    let config = config(Buffer::PluginConfiguration, size);
    with_root(context_id, false, |r| r.on_configure(config)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    with_root(context_id, (), |r| r.on_tick());
    redis::tick(context_id);
    deliver_finished();
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, n: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Request, |c| {
        c.on_request_headers(n, eos != 0)
    })
}

// Body and log callbacks are exported only by filters that use them: every export is a VM entry
// the host makes per request (per body chunk), which costs microseconds in Envoy's V8.
#[cfg(feature = "request-body")]
#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, size: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Request, |c| {
        c.on_request_body(size, eos != 0)
    })
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, n: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Response, |c| {
        c.on_response_headers(n, eos != 0)
    })
}

#[cfg(feature = "response-body")]
#[no_mangle]
pub extern "C" fn proxy_on_response_body(context_id: u32, size: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Response, |c| {
        c.on_response_body(size, eos != 0)
    })
}

#[cfg(feature = "log")]
#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    with_http(context_id, Stream::Response, |c| {
        c.on_log();
        Action::Continue
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    enter(context_id);
    let removed = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let http = r.https.remove(&context_id).map(|e| e.ctx);
        let root = r.roots.remove(&context_id);
        (http, root)
    });
    if removed.0.is_some() {
        redis::cancel(context_id);
    }
    // Dropped here, outside the registry borrow.
    drop(removed);
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    _num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    enter(context_id);
    if !redis::on_call_response(token, body_size) {
        host::log(
            LogLevel::Debug,
            &format!("answer to unknown call {token} ignored"),
        );
    }
    deliver_finished();
}
