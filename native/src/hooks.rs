//! The functions Envoy calls (the 21 that Envoy 1.40 requires of an HTTP filter module), each
//! a thin entry into the filters' runtime (`redis_filter_core::proxy::exports`, the entries a
//! Wasm host calls) for the stream's context. Each runs under `catch_unwind`: a panic must not
//! cross into Envoy (it would abort the process); a request whose hook panicked gets Kong's 500.

use crate::abi::{self, ConfigEnvoyPtr, ConfigModulePtr, EnvoyBuffer, FilterEnvoyPtr};
use crate::abi::{EnvoyHttpHeader, FilterModulePtr};
use crate::config::{self, FilterConfig};
use crate::envoy::{self, Stream};
use crate::scheduler::Slot;
use crate::{metrics, proxy_host, worker};
use redis_filter_core::proxy::exports as wasm;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One stream's filter, as Envoy keeps it: its context id.
struct StreamFilter {
    context: u32,
}

/// `f()`, or `fallback` if it panicked.
fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Answers the stream with Kong's 500 (a hook panicked).
fn unexpected_error(filter: FilterEnvoyPtr) {
    let body = br#"{"message":"An unexpected error occurred"}"#;
    let headers = [(
        "content-type".to_string(),
        b"application/json; charset=utf-8".to_vec(),
    )];
    envoy::send_response(Stream(filter), 500, &headers, body, b"redis_filters_panic");
}

/// A headers hook's answer: the filter's, or (after a panic) the 500 and stop.
fn headers_hook(filter: FilterEnvoyPtr, f: impl FnOnce() -> u32) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(_) => {
            guarded((), || unexpected_error(filter));
            abi::HEADERS_STOP_ITERATION
        }
    }
}

/// Our stream filter behind Envoy's pointer.
fn stream_filter<'a>(filter: FilterModulePtr) -> Option<&'a StreamFilter> {
    // SAFETY: Envoy hands back the pointer `on_http_filter_new` returned, alive until destroy.
    unsafe { (filter as *const StreamFilter).as_ref() }
}

/// Makes the stream's context the one acting (and running), before entering the filters.
/// Until it goes: a hook may run inside another (a stream resumed from another's answer runs
/// its next filters at once, ours among them), and the outer one goes on acting for its own.
#[must_use]
fn enter(filter: &StreamFilter) -> Entered {
    let before = worker::with(|w| {
        let before = (w.effective, w.running);
        w.effective = filter.context;
        w.running = filter.context;
        before
    });
    Entered(before)
}

/// The context acting and the stream running before a hook, given back when it ends.
struct Entered((u32, u32));

impl Drop for Entered {
    fn drop(&mut self) {
        let (effective, running) = self.0;
        worker::with(|w| {
            w.effective = effective;
            w.running = running;
        });
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    redis_filter_core::proxy::install_native_host(proxy_host::table());
    redis_filter_core::shared_data::install_native(crate::shared_memory::store());
    abi::ABI_VERSION.as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    envoy: ConfigEnvoyPtr,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ConfigModulePtr {
    guarded(std::ptr::null(), || {
        match config::parse(&name.to_vec(), &config.to_vec(), envoy as usize) {
            Ok(parsed) => {
                // The filter's counters are Envoy's to create now: build it once to learn them.
                // Its root here stays: it ticks for idle workers (`idle.rs`).
                metrics::defining(|| {
                    crate::roots::root(&parsed);
                    metrics::define(parsed.envoy, metrics::REDIS_CALLS);
                });
                crate::idle::config_created(parsed.envoy, Slot::of_config(envoy));
                Box::into_raw(Box::new(parsed)) as ConfigModulePtr
            }
            Err(e) => {
                abi::log(abi::LOG_ERROR, &format!("redis_filters: {e}"));
                std::ptr::null()
            }
        }
    })
}

/// Frees what `Box::into_raw` made of a `T` and handed to Envoy, which gives it back once.
fn drop_boxed<T>(ptr: *const std::ffi::c_void) {
    if !ptr.is_null() {
        // SAFETY: `ptr` came from `Box::<T>::into_raw` here, and Envoy destroys it once.
        drop(unsafe { Box::from_raw(ptr as *mut T) });
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ConfigModulePtr) {
    guarded((), || {
        // SAFETY: Envoy hands back the pointer `config_new` returned, once.
        if let Some(c) = unsafe { (config as *const FilterConfig).as_ref() } {
            crate::idle::config_destroyed(c.envoy);
            crate::roots::drop_root(c.envoy);
            metrics::forget(c.envoy);
        }
        drop_boxed::<FilterConfig>(config);
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: ConfigModulePtr,
    envoy: FilterEnvoyPtr,
) -> FilterModulePtr {
    guarded(std::ptr::null(), || {
        // SAFETY: the pointer `config_new` returned, alive while Envoy uses the config.
        let Some(config) = (unsafe { (config as *const FilterConfig).as_ref() }) else {
            return std::ptr::null();
        };
        let root = crate::roots::root(config);
        let context = worker::with(|w| {
            let id = w.next_id();
            w.streams.insert(
                id,
                worker::Stream {
                    envoy,
                    root,
                    carried: 0,
                    held: false,
                    reply: None,
                    waiting: false,
                    slot: None,
                },
            );
            id
        });
        crate::mailbox::started(context);
        let filter = StreamFilter { context };
        let _entered = enter(&filter);
        wasm::proxy_on_context_create(context, root);
        Box::into_raw(Box::new(filter)) as FilterModulePtr
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: FilterModulePtr) {
    guarded((), || {
        if let Some(f) = stream_filter(filter) {
            let _entered = enter(f);
            wasm::proxy_on_delete(f.context);
            // Before its scheduler is freed: another stream brings the worker's answers.
            crate::mailbox::ending(f.context);
            let (gone, lost) = worker::with(|w| {
                let lost: Vec<u32> = w
                    .callouts
                    .iter()
                    .filter(|((id, _), _)| *id == f.context)
                    .map(|(_, token)| *token)
                    .collect();
                w.callouts.retain(|(id, _), _| *id != f.context);
                // Nothing may ride on this stream any more.
                w.running = 0;
                (w.streams.remove(&f.context), lost)
            });
            if let Some(slot) = gone.and_then(|s| s.slot) {
                slot.close();
            }
            // Envoy cancels a stream's callouts with it (a client that went away): the other
            // requests whose commands they carried hear of it now, as a failed call.
            for token in lost {
                worker::hand_answer(f.context, token, worker::Answer::default());
            }
            crate::wakes::arm();
            crate::idle::worker_idle();
        }
        drop_boxed::<StreamFilter>(filter);
    });
}

/// Runs a hook of the stream's context: `Continue` (0) or `Pause` (1) from the runtime.
fn run(filter: FilterModulePtr, f: impl FnOnce(&StreamFilter) -> u32) -> u32 {
    match stream_filter(filter) {
        Some(sf) => {
            let _entered = enter(sf);
            f(sf)
        }
        None => 0,
    }
}

/// After the last of a response's hooks: the response waits while the stream carries calls
/// (`carried.rs`). True when it must wait.
fn response_ends(filter: &StreamFilter) -> bool {
    let carries = worker::with(|w| {
        w.streams
            .get(&filter.context)
            .is_some_and(|s| s.carried > 0)
    });
    // Or the worker's last stream, while a root's own Redis work is under way (`idle.rs`):
    // waiting, so that wake-ups come while it does.
    let keeps = !carries && crate::idle::keeps_last_stream(filter.context);
    if !(carries || keeps) {
        return false;
    }
    worker::with(|w| {
        if let Some(s) = w.streams.get_mut(&filter.context) {
            s.held = true;
            s.waiting |= keeps;
        }
    });
    if keeps {
        crate::wakes::arm();
    }
    true
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    headers_hook(envoy, || {
        let action = run(filter, |f| {
            let action = wasm::proxy_on_request_headers(f.context, 0, end_of_stream as u32);
            crate::wakes::paused(f.context, action);
            action
        });
        headers_status(action)
    })
}

fn headers_status(action: u32) -> u32 {
    if action == 0 {
        abi::HEADERS_CONTINUE
    } else {
        abi::HEADERS_STOP_ALL
    }
}

fn body_status(action: u32) -> u32 {
    if action == 0 {
        abi::BODY_CONTINUE
    } else {
        abi::BODY_STOP_AND_BUFFER
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    headers_hook(envoy, || {
        let action = run(filter, |f| {
            crate::roots::tick_due(f.context);
            let action = wasm::proxy_on_response_headers(f.context, 0, end_of_stream as u32);
            if end_of_stream && response_ends(f) {
                return 1;
            }
            action
        });
        headers_status(action)
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    guarded(abi::BODY_CONTINUE, || {
        let action = run(filter, |f| {
            let size = envoy::body_size(Stream(envoy), true);
            let action = wasm::proxy_on_request_body(f.context, size, end_of_stream as u32);
            crate::wakes::paused(f.context, action);
            action
        });
        body_status(action)
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    guarded(abi::BODY_CONTINUE, || {
        let action = run(filter, |f| {
            let size = envoy::body_size(Stream(envoy), false);
            let action = wasm::proxy_on_response_body(f.context, size, end_of_stream as u32);
            if end_of_stream && action == 0 && response_ends(f) {
                return 1;
            }
            action
        });
        body_status(action)
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
) -> u32 {
    guarded(abi::TRAILERS_CONTINUE, || {
        run(filter, |f| wasm::proxy_on_request_trailers(f.context, 0))
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
) -> u32 {
    guarded(abi::TRAILERS_CONTINUE, || {
        run(filter, |f| {
            let action = wasm::proxy_on_response_trailers(f.context, 0);
            if action == 0 && response_ends(f) {
                return 1;
            }
            action
        })
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
) {
    guarded((), || {
        run(filter, |f| {
            wasm::proxy_on_log(f.context);
            0
        });
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    callout_id: u64,
    _result: u32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    guarded((), || {
        let Some(f) = stream_filter(filter) else {
            return;
        };
        let _entered = enter(f);
        let Some(token) = worker::with(|w| w.callouts.remove(&(f.context, callout_id))) else {
            return;
        };
        // This stream carries one call fewer before the answer is handed out: what the answer
        // leads to (its own local reply) need not wait for it.
        worker::with(|w| {
            if let Some(s) = w.streams.get_mut(&f.context) {
                s.carried = s.carried.saturating_sub(1);
            }
        });
        let answer = envoy::answer(headers, headers_size, body_chunks, body_chunks_size);
        worker::hand_answer(f.context, token, answer);
        crate::carried::settle(f.context, Stream(envoy));
        crate::idle::release_held();
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
    _headers: *const EnvoyHttpHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
    _trailers: *const EnvoyHttpHeader,
    _trailers_size: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
    _reason: u32,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _envoy: FilterEnvoyPtr,
    filter: FilterModulePtr,
    event_id: u64,
) {
    guarded((), || {
        if let Some(f) = stream_filter(filter) {
            let _entered = enter(f);
            match event_id {
                crate::scheduler::ANSWERS => crate::mailbox::deliver(f.context),
                wake => crate::wakes::woken(f.context, wake),
            }
            crate::idle::release_held();
        }
    });
}

/// On the main thread: the answers of its roots' calls, or the tick for idle workers
/// (`idle.rs`).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    _envoy: ConfigEnvoyPtr,
    _config: ConfigModulePtr,
    event_id: u64,
) {
    guarded((), || match event_id {
        crate::scheduler::ANSWERS => {
            let root = worker::with(|w| w.roots.values().next().map(|r| r.id));
            crate::mailbox::deliver(root.unwrap_or(0));
        }
        crate::scheduler::IDLE_TICK => crate::idle::tick(),
        _ => {}
    });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) {
}
