//! The functions Envoy calls (all 21 that Envoy 1.40 requires of an HTTP filter module). Each
//! runs its body under `catch_unwind`: a panic must not cross into Envoy (it would abort the
//! process); a request whose hook panicked gets Kong's 500.

use crate::abi::{self, ConfigEnvoyPtr, ConfigModulePtr, EnvoyBuffer, FilterEnvoyPtr};
use crate::abi::{FilterModulePtr, ModuleBuffer, ModuleHttpHeader};
use crate::config::{self, FilterConfig};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One stream's filter.
struct StreamFilter;

/// `f()`, or `fallback` if it panicked.
fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Answers the stream with Kong's 500 (a hook panicked).
fn unexpected_error(filter: FilterEnvoyPtr) {
    let body = br#"{"message":"An unexpected error occurred"}"#;
    let header = ModuleHttpHeader {
        key: ModuleBuffer::of(b"content-type"),
        value: ModuleBuffer::of(b"application/json; charset=utf-8"),
    };
    // SAFETY: `filter` is the stream Envoy called us for; the buffers live for the call.
    unsafe {
        abi::envoy_dynamic_module_callback_http_send_response(
            filter,
            500,
            &header,
            1,
            ModuleBuffer::of(body),
            ModuleBuffer::of(b"redis_filters_panic"),
        );
    }
}

/// A headers hook's answer: go on, or (after a panic) the 500 and stop.
fn headers_hook(filter: FilterEnvoyPtr, f: impl FnOnce() -> u32) -> u32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(_) => {
            guarded((), || unexpected_error(filter));
            abi::HEADERS_STOP_ITERATION
        }
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    abi::ABI_VERSION.as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _envoy: ConfigEnvoyPtr,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> ConfigModulePtr {
    guarded(std::ptr::null(), || {
        match config::parse(&name.to_vec(), &config.to_vec()) {
            Ok(parsed) => Box::into_raw(Box::new(parsed)) as ConfigModulePtr,
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
    drop_boxed::<FilterConfig>(config);
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    _config: ConfigModulePtr,
    _envoy: FilterEnvoyPtr,
) -> FilterModulePtr {
    Box::into_raw(Box::new(StreamFilter)) as FilterModulePtr
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: FilterModulePtr) {
    drop_boxed::<StreamFilter>(filter);
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _end_of_stream: bool,
) -> u32 {
    headers_hook(envoy, || abi::HEADERS_CONTINUE)
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _end_of_stream: bool,
) -> u32 {
    headers_hook(envoy, || abi::HEADERS_CONTINUE)
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _end_of_stream: bool,
) -> u32 {
    abi::BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _end_of_stream: bool,
) -> u32 {
    abi::BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) -> u32 {
    abi::TRAILERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) -> u32 {
    abi::TRAILERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _callout_id: u64,
    _result: u32,
    _headers: *const abi::EnvoyHttpHeader,
    _headers_size: usize,
    _body_chunks: *const EnvoyBuffer,
    _body_chunks_size: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _envoy: FilterEnvoyPtr,
    _filter: FilterModulePtr,
    _stream_id: u64,
    _headers: *const abi::EnvoyHttpHeader,
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
    _trailers: *const abi::EnvoyHttpHeader,
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
    _filter: FilterModulePtr,
    _event_id: u64,
) {
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
