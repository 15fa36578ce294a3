//! Safe wrappers over the host functions. Every failure is a `Status` value; nothing here panics.

use super::{pairs, sys};
use std::ptr::null_mut;

/// A proxy-wasm status other than Ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const NOT_FOUND: Status = Status(1);
    pub const CAS_MISMATCH: Status = Status(8);
}

fn check(code: u32) -> Result<(), Status> {
    if code == 0 {
        Ok(())
    } else {
        Err(Status(code))
    }
}

pub use crate::filter_host::LogLevel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Buffer {
    HttpRequestBody = 0,
    HttpResponseBody = 1,
    HttpCallResponseBody = 4,
    VmConfiguration = 6,
    PluginConfiguration = 7,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum HeaderMap {
    RequestHeaders = 0,
    RequestTrailers = 1,
    ResponseHeaders = 2,
    ResponseTrailers = 3,
    HttpCallResponseHeaders = 6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Stream {
    Request = 0,
    Response = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

pub fn log(level: LogLevel, message: &str) {
    // Nothing sensible to do if logging itself fails.
    let _ = unsafe { sys::proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Host time in milliseconds since the epoch (0 if the host cannot tell).
pub fn now_ms() -> u64 {
    let mut nanos = 0u64;
    match check(unsafe { sys::proxy_get_current_time_nanoseconds(&mut nanos) }) {
        Ok(()) => nanos / 1_000_000,
        Err(_) => 0,
    }
}

pub fn set_tick_period_ms(period: u32) -> Result<(), Status> {
    check(unsafe { sys::proxy_set_tick_period_milliseconds(period) })
}

/// Takes ownership of a host-allocated block (allocated through `proxy_on_memory_allocate`).
fn take(ptr: *mut u8, size: usize) -> Option<Vec<u8>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the host filled a block it got from our allocator with exactly `size` bytes.
    Some(unsafe { Vec::from_raw_parts(ptr, size, size) })
}

/// Bytes from the host as text: kept as they are when valid UTF-8 (no copy), invalid sequences
/// replaced otherwise.
pub fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub fn buffer(kind: Buffer, start: usize, max: usize) -> Result<Option<Vec<u8>>, Status> {
    raw_buffer(kind as u32, start, max)
}

/// A buffer by its numeric type (host-specific types such as Higress' redis reply).
pub fn raw_buffer(kind: u32, start: usize, max: usize) -> Result<Option<Vec<u8>>, Status> {
    let (mut ptr, mut size) = (null_mut(), 0usize);
    match check(unsafe { sys::proxy_get_buffer_bytes(kind, start, max, &mut ptr, &mut size) }) {
        Ok(()) => Ok(take(ptr, size)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn set_buffer(kind: Buffer, start: usize, size: usize, data: &[u8]) -> Result<(), Status> {
    check(unsafe {
        sys::proxy_set_buffer_bytes(kind as u32, start, size, data.as_ptr(), data.len())
    })
}

pub fn headers(map: HeaderMap) -> Result<Vec<(String, Vec<u8>)>, Status> {
    let (mut ptr, mut size) = (null_mut(), 0usize);
    check(unsafe { sys::proxy_get_header_map_pairs(map as u32, &mut ptr, &mut size) })?;
    match take(ptr, size) {
        None => Ok(Vec::new()),
        Some(bytes) => pairs::decode(&bytes).ok_or(Status(3)),
    }
}

pub fn header(map: HeaderMap, name: &str) -> Result<Option<String>, Status> {
    let (mut ptr, mut size) = (null_mut(), 0usize);
    let code = unsafe {
        sys::proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), &mut ptr, &mut size)
    };
    match check(code) {
        Ok(()) => Ok(take(ptr, size).map(utf8)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn add_header(map: HeaderMap, name: &str, value: &str) -> Result<(), Status> {
    check(unsafe {
        sys::proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn set_header(map: HeaderMap, name: &str, value: &str) -> Result<(), Status> {
    check(unsafe {
        sys::proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn remove_header(map: HeaderMap, name: &str) -> Result<(), Status> {
    check(unsafe { sys::proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// A property by path (`["kong", "route_id"]`, `["source", "address"]`).
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let encoded = pairs::path(path);
    let (mut ptr, mut size) = (null_mut(), 0usize);
    let code =
        unsafe { sys::proxy_get_property(encoded.as_ptr(), encoded.len(), &mut ptr, &mut size) };
    match check(code) {
        Ok(()) => Ok(take(ptr, size)),
        Err(Status::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fills `out` from the host's random source (WASI `random_get`); false if it failed.
pub fn random(out: &mut [u8]) -> bool {
    unsafe { sys::random_get(out.as_mut_ptr(), out.len()) == 0 }
}

/// Sets a property of the running request (a value later filters of the chain read back).
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), Status> {
    let encoded = pairs::path(path);
    check(unsafe {
        sys::proxy_set_property(encoded.as_ptr(), encoded.len(), value.as_ptr(), value.len())
    })
}

/// Shared data and its CAS token (`None` when the key does not exist).
pub fn shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
    let (mut ptr, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    let code = unsafe {
        sys::proxy_get_shared_data(key.as_ptr(), key.len(), &mut ptr, &mut size, &mut cas)
    };
    match check(code) {
        Ok(()) => Ok((take(ptr, size), cas)),
        Err(Status::NOT_FOUND) => Ok((None, 0)),
        Err(e) => Err(e),
    }
}

/// Sets shared data if its CAS token is still `cas` (0: unconditionally). `CAS_MISMATCH` if not.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    check(unsafe {
        sys::proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

pub fn send_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let map = pairs::encode(headers);
    check(unsafe {
        sys::proxy_send_local_response(
            status,
            null_mut(),
            0,
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    })
}

pub fn http_call(
    upstream: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout_ms: u32,
) -> Result<u32, Status> {
    let map = pairs::encode(headers);
    let trailers = pairs::encode::<&str, &str>(&[]);
    let mut token = 0u32;
    check(unsafe {
        sys::proxy_http_call(
            upstream.as_ptr(),
            upstream.len(),
            map.as_ptr(),
            map.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

pub fn resume(stream: Stream) -> Result<(), Status> {
    check(unsafe { sys::proxy_continue_stream(stream as u32) })
}

pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    check(unsafe { sys::proxy_set_effective_context(context_id) })
}

pub fn define_metric(kind: MetricType, name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    check(unsafe { sys::proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, offset: i64) -> Result<(), Status> {
    check(unsafe { sys::proxy_increment_metric(id, offset) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), Status> {
    check(unsafe { sys::proxy_record_metric(id, value) })
}

pub fn metric(id: u32) -> Result<u64, Status> {
    let mut value = 0u64;
    check(unsafe { sys::proxy_get_metric(id, &mut value) })?;
    Ok(value)
}
