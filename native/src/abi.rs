//! Our declarations of Envoy's dynamic-module ABI (Envoy 1.40, ABI `v0.2.0`), written against
//! what the installed binary loads and exports (docs/envoy-dynamic-modules.md). Only what the
//! module uses is declared: every callback named here must be exported by the Envoy binary, or
//! the module fails to load.

use std::ffi::c_void;

/// The ABI version this module is written for; Envoy logs a warning on another (and loads it).
pub const ABI_VERSION: &std::ffi::CStr = c"v0.2.0";

/// Envoy's handle of a filter config (main thread).
pub type ConfigEnvoyPtr = *mut c_void;
/// Our filter config, as Envoy keeps it (a `Box<FilterConfig>` turned into a pointer).
pub type ConfigModulePtr = *const c_void;
/// Envoy's handle of one stream's filter: the first argument of every callback about it.
pub type FilterEnvoyPtr = *mut c_void;
/// Our per-stream filter, as Envoy keeps it (a `Box<StreamFilter>` turned into a pointer).
pub type FilterModulePtr = *const c_void;

/// Bytes Envoy owns, valid during the hook that passes them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

impl EnvoyBuffer {
    /// A copy of the bytes (none for a null or empty buffer).
    pub fn to_vec(self) -> Vec<u8> {
        if self.ptr.is_null() || self.length == 0 {
            return Vec::new();
        }
        // SAFETY: Envoy passes `length` readable bytes at `ptr`, alive during this hook.
        unsafe { std::slice::from_raw_parts(self.ptr, self.length) }.to_vec()
    }
}

/// Bytes the module owns, valid during the callback they are passed to.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

impl ModuleBuffer {
    /// `bytes` lent to Envoy for one call.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }
}

/// A header Envoy owns (one of those a callout's answer brings).
#[repr(C)]
pub struct EnvoyHttpHeader {
    pub key: EnvoyBuffer,
    pub value: EnvoyBuffer,
}

/// A header the module lends Envoy (a local response's).
#[repr(C)]
pub struct ModuleHttpHeader {
    pub key: ModuleBuffer,
    pub value: ModuleBuffer,
}

/// What a headers hook answers: go on (0), stop the filter chain here (1), or stop it and hold
/// the body too, delivering it to this filter once it continues (4, StopAllIterationAndWatermark:
/// what Envoy's Wasm filters answer for a paused request, so a filter that waits on Redis still
/// reads the body afterwards).
pub const HEADERS_CONTINUE: u32 = 0;
pub const HEADERS_STOP_ITERATION: u32 = 1;
pub const HEADERS_STOP_ALL: u32 = 4;
/// What a body hook answers: go on (0), or stop and buffer what comes (1).
pub const BODY_CONTINUE: u32 = 0;
pub const BODY_STOP_AND_BUFFER: u32 = 1;
/// What a trailers hook answers: go on (0), or stop (1).
pub const TRAILERS_CONTINUE: u32 = 0;

/// Envoy's log levels (proxy-wasm's numbers: Trace 0 .. Critical 5).
pub const LOG_INFO: u32 = 2;
pub const LOG_ERROR: u32 = 4;

/// Header maps: request headers 0, request trailers 1, response headers 2, response trailers 3.
pub type HeaderType = u32;
/// Bodies: the chunk this hook received (request 0, response 2), or all that was buffered
/// (request 1, response 3).
pub type BodyType = u32;
pub const RECEIVED_REQUEST_BODY: BodyType = 0;
pub const RECEIVED_RESPONSE_BODY: BodyType = 2;

/// A callout was sent (0); else why not.
pub const CALLOUT_INIT_SUCCESS: u32 = 0;
/// A metrics call succeeded (0).
pub const METRICS_SUCCESS: u32 = 0;

/// Attributes a filter may read (`get_attribute_string`), by their place in Envoy's list.
pub const ATTRIBUTE_REQUEST_ID: usize = 9;
pub const ATTRIBUTE_REQUEST_PROTOCOL: usize = 10;
pub const ATTRIBUTE_SOURCE_ADDRESS: usize = 24;

/// The callbacks, as Envoy 1.40 exports them; each one named here must be exported by the binary.
macro_rules! callbacks {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        #[cfg(not(test))]
        extern "C" {
            $($(#[$doc])* pub fn $name($($arg: $ty),*) $(-> $ret)?;)*
        }

        /// Unit tests run outside Envoy: the callbacks do nothing there and report failure.
        #[cfg(test)]
        mod outside_envoy {
            use super::*;
            $(
                /// # Safety
                /// None: it does nothing.
                #[allow(unused_variables)]
                pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                    Default::default()
                }
            )*
        }
    };
}

callbacks! {
    /// Writes `message` to Envoy's `dynamic_modules` logger at `level`.
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);

    /// Answers the stream locally: `status_code`, `headers` (`headers_size` of them), `body`, and
    /// `details` for Envoy's response-code details (may be empty).
    fn envoy_dynamic_module_callback_http_send_response(
        filter: FilterEnvoyPtr,
        status_code: u32,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );

    /// The `index`th value of header `key` of a map into `result` (false if none); the number
    /// of values into `count` when it is not null.
    fn envoy_dynamic_module_callback_http_get_header(
        filter: FilterEnvoyPtr,
        kind: HeaderType,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
        index: usize,
        count: *mut usize,
    ) -> bool;

    /// How many headers a map has.
    fn envoy_dynamic_module_callback_http_get_headers_size(filter: FilterEnvoyPtr, kind: HeaderType) -> usize;

    /// Every header of a map into `result` (room for `get_headers_size` of them).
    fn envoy_dynamic_module_callback_http_get_headers(
        filter: FilterEnvoyPtr,
        kind: HeaderType,
        result: *mut EnvoyHttpHeader,
    ) -> bool;

    /// Sets header `key` to `value`, replacing its values; a null `value` removes it.
    fn envoy_dynamic_module_callback_http_set_header(
        filter: FilterEnvoyPtr,
        kind: HeaderType,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    /// Adds a value of header `key` beside those it has.
    fn envoy_dynamic_module_callback_http_add_header(
        filter: FilterEnvoyPtr,
        kind: HeaderType,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    /// How many slices a body has (`get_body_chunks` fills that many).
    fn envoy_dynamic_module_callback_http_get_body_chunks_size(filter: FilterEnvoyPtr, kind: BodyType) -> usize;

    /// A body's slices into `result`; false if the stream has no such body now.
    fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter: FilterEnvoyPtr,
        kind: BodyType,
        result: *mut EnvoyBuffer,
    ) -> bool;

    /// A body's length in bytes.
    fn envoy_dynamic_module_callback_http_get_body_size(filter: FilterEnvoyPtr, kind: BodyType) -> usize;

    /// Removes the first `bytes` bytes of a body.
    fn envoy_dynamic_module_callback_http_drain_body(filter: FilterEnvoyPtr, kind: BodyType, bytes: usize) -> bool;

    /// Appends `data` to a body.
    fn envoy_dynamic_module_callback_http_append_body(filter: FilterEnvoyPtr, kind: BodyType, data: ModuleBuffer) -> bool;

    /// Resumes a request stopped by a hook.
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: FilterEnvoyPtr);

    /// Resumes a response stopped by a hook.
    fn envoy_dynamic_module_callback_http_filter_continue_encoding(filter: FilterEnvoyPtr);

    /// Sends an HTTP request to `cluster` on the stream's worker; the answer comes to
    /// `on_http_filter_http_callout_done` with the id written to `callout_id`. Envoy cancels
    /// it if the stream ends first.
    fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: FilterEnvoyPtr,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> u32;

    /// A string attribute of the stream (`ATTRIBUTE_*`) into `result`; false if it has none.
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: FilterEnvoyPtr,
        attribute: usize,
        result: *mut EnvoyBuffer,
    ) -> bool;

    /// Stores `value` in the stream's filter state under `key` (shared by every filter of the
    /// stream); false if Envoy refused.
    fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter: FilterEnvoyPtr,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    /// The stream's filter state under `key` into `result`; false if it has none.
    fn envoy_dynamic_module_callback_http_get_filter_state_bytes(
        filter: FilterEnvoyPtr,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
    ) -> bool;

    /// A scheduler of the stream (call on its worker, in a hook); the module deletes it.
    fn envoy_dynamic_module_callback_http_filter_scheduler_new(filter: FilterEnvoyPtr) -> *mut c_void;

    /// From any thread: `on_http_filter_scheduled(event)` runs on the stream's worker (nothing
    /// happens once the stream is gone).
    fn envoy_dynamic_module_callback_http_filter_scheduler_commit(scheduler: *mut c_void, event: u64);

    /// Frees a scheduler.
    fn envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler: *mut c_void);

    /// A scheduler of the config (call on the main thread); the module deletes it.
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: ConfigEnvoyPtr,
    ) -> *mut c_void;

    /// From any thread: `on_http_filter_config_scheduled(event)` runs on the main thread
    /// (nothing happens once the config is gone).
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: *mut c_void,
        event: u64,
    );

    /// Frees a config's scheduler.
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);

    /// The stream's filter state object under `key`, serialised (a Wasm filter's property, a
    /// `WasmState`), into `result`; false if it has none.
    fn envoy_dynamic_module_callback_http_get_filter_state_typed(
        filter: FilterEnvoyPtr,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
    ) -> bool;

    /// Creates counter `name` of a config, only while the config is created; its id into `id`.
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: ConfigEnvoyPtr,
        name: ModuleBuffer,
        label_names: *const ModuleBuffer,
        label_names_size: usize,
        id: *mut usize,
    ) -> u32;

    /// Adds `value` to counter `id` of a config (from any thread: Envoy's counters are atomic).
    fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: ConfigEnvoyPtr,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_size: usize,
        value: u64,
    ) -> u32;
}

#[cfg(test)]
pub use outside_envoy::*;

/// Logs `line` at `level` through Envoy.
pub fn log(level: u32, line: &str) {
    // SAFETY: the buffer lives for the call; Envoy copies what it logs.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(line.as_bytes())) }
}
