//! The `proxy_on_*` functions the host calls: every callback the `proxy-wasm` crate exports, so
//! a host that calls one without checking it exists (ngx_wasm_module does) finds it. Each is a
//! thin entry into the registry (`runtime`); the ones no filter here uses answer as the crate's
//! defaults do.

use super::abi::{self, Buffer, HeaderMap, Stream};
use super::context::Action;
use super::runtime::{self, call_response, with_http, with_http_data, with_root};
use crate::transport::CallResponse;

fn config(kind: Buffer, size: usize) -> Option<Vec<u8>> {
    if size == 0 {
        return None;
    }
    abi::buffer(kind, 0, size).ok().flatten()
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
    runtime::create_context(context_id, root_context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(context_id: u32, size: usize) -> u32 {
    let config = config(Buffer::VmConfiguration, size);
    with_root(context_id, true, |r| r.on_vm_start(config)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, size: usize) -> u32 {
    let config = config(Buffer::PluginConfiguration, size);
    let accepted = with_root(context_id, false, |r| r.on_configure(config));
    super::memory_gauge::define();
    accepted as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    with_root(context_id, (), |r| r.on_tick());
    runtime::tick_clients(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_queue_ready(context_id: u32, _queue_id: u32) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_foreign_function(context_id: u32, _function_id: u32, _size: usize) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, n: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Request, |c| {
        c.on_request_headers(n, eos != 0)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, size: usize, eos: u32) -> u32 {
    with_http_data(context_id, Stream::Request, |c| {
        c.on_request_body(size, eos != 0)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _n: usize) -> u32 {
    with_http_data(context_id, Stream::Request, |_| Action::Continue) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, n: usize, eos: u32) -> u32 {
    with_http(context_id, Stream::Response, |c| {
        c.on_response_headers(n, eos != 0)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(context_id: u32, size: usize, eos: u32) -> u32 {
    with_http_data(context_id, Stream::Response, |c| {
        c.on_response_body(size, eos != 0)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, _n: usize) -> u32 {
    with_http_data(context_id, Stream::Response, |_| Action::Continue) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    with_http(context_id, Stream::Response, |c| {
        c.on_log();
        Action::Continue
    });
}

/// The context is done as far as this filter is concerned (it never holds a context open).
#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    runtime::enter(context_id);
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    runtime::delete(context_id);
    super::memory_gauge::observe();
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    _num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    call_response(context_id, token, || read_call_response(body_size));
}

/// The answer of an HTTP call: `:status`, Kong's `:dispatch_status` when there was none, the body.
fn read_call_response(body_size: usize) -> CallResponse {
    let headers = abi::headers(HeaderMap::HttpCallResponseHeaders).unwrap_or_default();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    CallResponse {
        status: find(":status").and_then(|s| s.parse().ok()),
        failure: find(":dispatch_status").filter(|s| s != "ok"),
        body: abi::buffer(Buffer::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default(),
    }
}

// Stream (L4) filters and gRPC calls: not used by these filters, exported as the crate does.

#[no_mangle]
pub extern "C" fn proxy_on_new_connection(context_id: u32) -> u32 {
    runtime::enter(context_id);
    Action::Continue as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_downstream_data(context_id: u32, _size: usize, _eos: u32) -> u32 {
    runtime::enter(context_id);
    Action::Continue as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_downstream_connection_close(context_id: u32, _peer: u32) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_upstream_data(context_id: u32, _size: usize, _eos: u32) -> u32 {
    runtime::enter(context_id);
    Action::Continue as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_upstream_connection_close(context_id: u32, _peer: u32) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive_initial_metadata(context_id: u32, _token: u32, _n: u32) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive(context_id: u32, _token: u32, _size: usize) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(context_id: u32, _token: u32, _n: u32) {
    runtime::enter(context_id);
}

#[no_mangle]
pub extern "C" fn proxy_on_grpc_close(context_id: u32, _token: u32, _status: u32) {
    runtime::enter(context_id);
}

/// The names of every callback exported above: what a host may call without checking.
pub const EXPORTED_CALLBACKS: &[&str] = &[
    "proxy_on_memory_allocate",
    "proxy_on_context_create",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_queue_ready",
    "proxy_on_foreign_function",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_http_call_response",
    "proxy_on_new_connection",
    "proxy_on_downstream_data",
    "proxy_on_downstream_connection_close",
    "proxy_on_upstream_data",
    "proxy_on_upstream_connection_close",
    "proxy_on_grpc_receive_initial_metadata",
    "proxy_on_grpc_receive",
    "proxy_on_grpc_receive_trailing_metadata",
    "proxy_on_grpc_close",
];
