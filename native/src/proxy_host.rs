//! The host functions the filters' runtime calls (`redis_filter_core::proxy::sys`), answered
//! over Envoy's dynamic-module callbacks (`envoy.rs`) for the context the running hook acts
//! for (`worker.rs`). The filters, their registry and their Redis multiplexer are the Wasm
//! build's code; this file and `hooks.rs` are the host adapter. Shared data is the process's
//! own memory (`shared_memory.rs`).

#![allow(clippy::too_many_arguments)]

use crate::envoy::{self, HeaderKind};
use crate::shared_memory;
use crate::worker;
use redis_filter_core::proxy::pairs;
use redis_filter_core::proxy::NativeHost;
use redis_tunnel::TunnelAsk;
use std::time::Duration;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const BAD_ARGUMENT: u32 = 2;
const INTERNAL_FAILURE: u32 = 10;

/// The table installed at load (`envoy_dynamic_module_on_program_init`).
pub fn table() -> NativeHost {
    NativeHost {
        proxy_log,
        proxy_get_current_time_nanoseconds,
        proxy_set_tick_period_milliseconds,
        proxy_get_buffer_bytes,
        proxy_set_buffer_bytes,
        proxy_get_header_map_pairs,
        proxy_get_header_map_value,
        proxy_add_header_map_value,
        proxy_replace_header_map_value,
        proxy_remove_header_map_value,
        proxy_get_property,
        proxy_set_property,
        proxy_get_shared_data,
        proxy_set_shared_data,
        proxy_send_local_response,
        proxy_http_call,
        proxy_continue_stream,
        proxy_set_effective_context,
        proxy_define_metric,
        proxy_increment_metric,
        proxy_record_metric,
        proxy_get_metric,
        random_get,
    }
}

/// The bytes at `ptr` (`len` of them), lent by the caller for the call.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the runtime passes `len` readable bytes at `ptr`, alive during the call.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// Hands `data` to the caller as a block it owns, without copying it again: the runtime takes
/// it back with `Vec::from_raw_parts(ptr, len, len)`, so its capacity is cut to its length
/// first (a boxed slice).
unsafe fn give(data: Vec<u8>, out: *mut *mut u8, out_len: *mut usize) -> u32 {
    let block = data.into_boxed_slice();
    let len = block.len();
    // SAFETY: the runtime passes valid out-pointers.
    unsafe {
        *out = Box::into_raw(block) as *mut u8;
        *out_len = len;
    }
    OK
}

fn status(ok: bool) -> u32 {
    if ok {
        OK
    } else {
        NOT_FOUND
    }
}

/// The stream the host functions act for now.
fn acting() -> Option<envoy::Stream> {
    worker::with(|w| w.acting_stream()).map(|(_, ptr)| envoy::Stream(ptr))
}

unsafe fn proxy_log(level: u32, message: *const u8, size: usize) -> u32 {
    envoy::log(level, unsafe { bytes(message, size) });
    OK
}

unsafe fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // SAFETY: a valid out-pointer from the runtime.
    unsafe { *out = nanos };
    OK
}

unsafe fn proxy_set_tick_period_milliseconds(period: u32) -> u32 {
    worker::with(|w| {
        let effective = w.effective;
        match w.root_by_id(effective) {
            Some(root) => {
                root.tick_ms = period;
                root.next_tick_ms = 0;
                OK
            }
            None => NOT_FOUND,
        }
    })
}

/// proxy-wasm's buffer types.
const REQUEST_BODY: u32 = 0;
const RESPONSE_BODY: u32 = 1;
const CALL_RESPONSE_BODY: u32 = 4;
const VM_CONFIGURATION: u32 = 6;
const PLUGIN_CONFIGURATION: u32 = 7;

unsafe fn proxy_get_buffer_bytes(
    kind: u32,
    start: usize,
    max: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> u32 {
    let mut whole = match kind {
        REQUEST_BODY | RESPONSE_BODY => {
            let Some(stream) = acting() else {
                return NOT_FOUND;
            };
            envoy::body(stream, kind == REQUEST_BODY)
        }
        CALL_RESPONSE_BODY => match worker::with(|w| w.answer.as_ref().map(|a| a.body.clone())) {
            Some(body) => body,
            None => return NOT_FOUND,
        },
        VM_CONFIGURATION => Vec::new(),
        PLUGIN_CONFIGURATION => match worker::with(|w| w.configuring.clone()) {
            Some(config) => config,
            None => return NOT_FOUND,
        },
        _ => return BAD_ARGUMENT,
    };
    let from = start.min(whole.len());
    let to = from.saturating_add(max).min(whole.len());
    whole.truncate(to);
    whole.drain(..from);
    unsafe { give(whole, out, out_len) }
}

unsafe fn proxy_set_buffer_bytes(
    kind: u32,
    start: usize,
    size: usize,
    data: *const u8,
    data_size: usize,
) -> u32 {
    if kind != REQUEST_BODY && kind != RESPONSE_BODY {
        return BAD_ARGUMENT;
    }
    let Some(stream) = acting() else {
        return NOT_FOUND;
    };
    let request = kind == REQUEST_BODY;
    // The proxy-wasm rule (Envoy's): the `size` bytes from `start` are replaced by `data`.
    let mut body = envoy::body(stream, request);
    let from = start.min(body.len());
    let to = from.saturating_add(size).min(body.len());
    body.splice(from..to, unsafe { bytes(data, data_size) }.iter().copied());
    status(envoy::replace_body(stream, request, &body))
}

/// proxy-wasm's header map types.
fn header_kind(map: u32) -> Option<HeaderKind> {
    match map {
        0 => Some(HeaderKind::RequestHeaders),
        1 => Some(HeaderKind::RequestTrailers),
        2 => Some(HeaderKind::ResponseHeaders),
        3 => Some(HeaderKind::ResponseTrailers),
        _ => None,
    }
}
const CALL_RESPONSE_HEADERS: u32 = 6;

unsafe fn proxy_get_header_map_pairs(map: u32, out: *mut *mut u8, out_len: *mut usize) -> u32 {
    let headers = if map == CALL_RESPONSE_HEADERS {
        match worker::with(|w| w.answer.as_ref().map(|a| a.headers.clone())) {
            Some(h) => h,
            None => return NOT_FOUND,
        }
    } else {
        let (Some(kind), Some(stream)) = (header_kind(map), acting()) else {
            return NOT_FOUND;
        };
        envoy::headers(stream, kind)
    };
    unsafe { give(pairs::encode(&headers), out, out_len) }
}

unsafe fn proxy_get_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> u32 {
    let key = unsafe { bytes(key, key_size) };
    let value = if map == CALL_RESPONSE_HEADERS {
        worker::with(|w| {
            w.answer.as_ref().and_then(|a| {
                a.headers
                    .iter()
                    .find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            })
        })
    } else {
        let (Some(kind), Some(stream)) = (header_kind(map), acting()) else {
            return NOT_FOUND;
        };
        envoy::header(stream, kind, key)
    };
    match value {
        Some(v) => unsafe { give(v, out, out_len) },
        None => NOT_FOUND,
    }
}

unsafe fn change_header(map: u32, key: &[u8], value: Option<&[u8]>, add: bool) -> u32 {
    let (Some(kind), Some(stream)) = (header_kind(map), acting()) else {
        return NOT_FOUND;
    };
    status(match (value, add) {
        (Some(v), true) => envoy::add_header(stream, kind, key, v),
        (value, _) => envoy::set_header(stream, kind, key, value),
    })
}

unsafe fn proxy_add_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
) -> u32 {
    let (key, value) = unsafe { (bytes(key, key_size), bytes(value, value_size)) };
    unsafe { change_header(map, key, Some(value), true) }
}

unsafe fn proxy_replace_header_map_value(
    map: u32,
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
) -> u32 {
    let (key, value) = unsafe { (bytes(key, key_size), bytes(value, value_size)) };
    unsafe { change_header(map, key, Some(value), false) }
}

unsafe fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32 {
    let key = unsafe { bytes(key, key_size) };
    unsafe { change_header(map, key, None, false) }
}

unsafe fn proxy_get_property(
    path: *const u8,
    path_size: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> u32 {
    let key = String::from_utf8_lossy(unsafe { bytes(path, path_size) }).replace('\0', ".");
    match acting().and_then(|stream| envoy::property(stream, &key)) {
        Some(v) => unsafe { give(v, out, out_len) },
        None => NOT_FOUND,
    }
}

unsafe fn proxy_set_property(
    path: *const u8,
    path_size: usize,
    value: *const u8,
    value_size: usize,
) -> u32 {
    let key = String::from_utf8_lossy(unsafe { bytes(path, path_size) }).replace('\0', ".");
    let value = unsafe { bytes(value, value_size) };
    match acting() {
        Some(stream) => status(envoy::set_property(stream, &key, value)),
        None => NOT_FOUND,
    }
}

unsafe fn proxy_get_shared_data(
    key: *const u8,
    key_size: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
    cas: *mut u32,
) -> u32 {
    let key = String::from_utf8_lossy(unsafe { bytes(key, key_size) });
    match shared_memory::get(&key) {
        Ok((value, number)) => {
            // SAFETY: a valid out-pointer from the runtime.
            unsafe { *cas = number };
            unsafe { give(value, out, out_len) }
        }
        Err(code) => code,
    }
}

unsafe fn proxy_set_shared_data(
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
    cas: u32,
) -> u32 {
    let key = String::from_utf8_lossy(unsafe { bytes(key, key_size) });
    let value = unsafe { bytes(value, value_size) };
    match shared_memory::set(&key, value, cas) {
        Ok(()) => OK,
        Err(code) => code,
    }
}

unsafe fn proxy_send_local_response(
    status_code: u32,
    details: *const u8,
    details_size: usize,
    body: *const u8,
    body_size: usize,
    headers: *const u8,
    headers_size: usize,
    _grpc_status: i32,
) -> u32 {
    let Some((id, ptr)) = worker::with(|w| w.acting_stream()) else {
        return NOT_FOUND;
    };
    let headers = pairs::decode(unsafe { bytes(headers, headers_size) }).unwrap_or_default();
    let (body, details) = unsafe { (bytes(body, body_size), bytes(details, details_size)) };
    let reply = worker::HeldReply {
        status: status_code,
        headers,
        body: body.to_vec(),
        details: details.to_vec(),
    };
    crate::carried::reply(id, envoy::Stream(ptr), reply);
    OK
}

unsafe fn proxy_http_call(
    upstream: *const u8,
    upstream_size: usize,
    headers: *const u8,
    headers_size: usize,
    body: *const u8,
    body_size: usize,
    _trailers: *const u8,
    _trailers_size: usize,
    timeout: u32,
    token_out: *mut u32,
) -> u32 {
    let headers = pairs::decode(unsafe { bytes(headers, headers_size) }).unwrap_or_default();
    let body = unsafe { bytes(body, body_size) };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    };
    let cluster = unsafe { bytes(upstream, upstream_size) };
    let streamless = worker::with(|w| w.acting_stream().is_none());
    if crate::direct::serves(cluster, header("content-type"), streamless) {
        // The module's own connections (`direct.rs`): no stream carries the call.
        let text = |name: &str| header(name).map(|v| String::from_utf8_lossy(v).into_owned());
        let (token, config) = worker::with(|w| (w.next_token(), w.effective_config()));
        if let Some(config) = config {
            crate::metrics::count_redis_call(config);
        }
        let job = crate::direct::Job {
            token,
            ask: TunnelAsk::from_headers(text, Duration::from_millis(u64::from(timeout))),
            body: body.to_vec(),
            mailbox: crate::mailbox::mine(),
        };
        if crate::direct::send(job).is_err() {
            return INTERNAL_FAILURE;
        }
        // SAFETY: a valid out-pointer from the runtime.
        unsafe { *token_out = token };
        return OK;
    }
    // The call rides on the running stream (the runtime sends calls for the root: they carry
    // every request's commands queued for the node), which then does not end before the answer
    // (`carried.rs`).
    let Some((carrier, ptr)) = worker::with(|w| w.acting_stream()) else {
        return BAD_ARGUMENT;
    };
    let id = match envoy::callout(envoy::Stream(ptr), cluster, &headers, body, timeout) {
        Ok(id) => id,
        Err(()) => return INTERNAL_FAILURE,
    };
    let token = worker::with(|w| {
        let token = w.next_token();
        w.callouts.insert((carrier, id), token);
        if let Some(s) = w.streams.get_mut(&carrier) {
            s.carried += 1;
        }
        token
    });
    // SAFETY: a valid out-pointer from the runtime.
    unsafe { *token_out = token };
    OK
}

unsafe fn proxy_continue_stream(stream_type: u32) -> u32 {
    let Some((id, ptr)) = worker::with(|w| w.acting_stream()) else {
        return NOT_FOUND;
    };
    if stream_type == 0 {
        worker::with(|w| {
            if let Some(s) = w.streams.get_mut(&id) {
                s.waiting = false;
            }
        });
    }
    envoy::resume(envoy::Stream(ptr), stream_type == 0);
    OK
}

unsafe fn proxy_set_effective_context(context_id: u32) -> u32 {
    worker::with(|w| {
        let known = w.streams.contains_key(&context_id) || w.root_by_id(context_id).is_some();
        if known {
            w.effective = context_id;
        }
        status(known)
    })
}

const COUNTER: u32 = 0;

unsafe fn proxy_define_metric(kind: u32, name: *const u8, size: usize, id_out: *mut u32) -> u32 {
    if kind != COUNTER {
        // Gauges (the Wasm build's memory gauge) have no meaning here.
        return BAD_ARGUMENT;
    }
    let name = String::from_utf8_lossy(unsafe { bytes(name, size) }).into_owned();
    let Some(config) = worker::with(|w| w.effective_config()) else {
        return NOT_FOUND;
    };
    match crate::metrics::define(config, &name) {
        Some(id) => {
            // SAFETY: a valid out-pointer from the runtime.
            unsafe { *id_out = id };
            OK
        }
        None => NOT_FOUND,
    }
}

unsafe fn proxy_increment_metric(id: u32, offset: i64) -> u32 {
    status(crate::metrics::increment(id, offset))
}

unsafe fn proxy_record_metric(_id: u32, _value: u64) -> u32 {
    BAD_ARGUMENT
}

unsafe fn proxy_get_metric(_id: u32, _out: *mut u64) -> u32 {
    BAD_ARGUMENT
}

unsafe fn random_get(buf: *mut u8, len: usize) -> u16 {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: the runtime passes `len` writable bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    match getrandom::getrandom(out) {
        Ok(()) => 0,
        Err(_) => INTERNAL_FAILURE as u16,
    }
}
