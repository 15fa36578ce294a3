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

/// What a headers hook answers: go on (0) or stop the filter chain here (1).
pub const HEADERS_CONTINUE: u32 = 0;
pub const HEADERS_STOP_ITERATION: u32 = 1;
/// What a body or trailers hook answers: go on.
pub const BODY_CONTINUE: u32 = 0;
pub const TRAILERS_CONTINUE: u32 = 0;

/// Envoy's log levels.
pub const LOG_INFO: u32 = 2;
pub const LOG_ERROR: u32 = 4;

#[cfg(not(test))]
extern "C" {
    /// Writes `message` to Envoy's `dynamic_modules` logger at `level`.
    pub fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);

    /// Answers the stream locally: `status_code`, `headers` (`headers_size` of them), `body`, and
    /// `details` for Envoy's response-code details (may be empty).
    pub fn envoy_dynamic_module_callback_http_send_response(
        filter: FilterEnvoyPtr,
        status_code: u32,
        headers: *const ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
}

#[cfg(test)]
pub use outside_envoy::*;

/// Logs `line` at `level` through Envoy.
pub fn log(level: u32, line: &str) {
    // SAFETY: the buffer lives for the call; Envoy copies what it logs.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(line.as_bytes())) }
}

/// Unit tests run outside Envoy: the callbacks do nothing there.
#[cfg(test)]
mod outside_envoy {
    use super::*;

    /// # Safety
    /// None: it does nothing.
    pub unsafe fn envoy_dynamic_module_callback_log(_level: u32, _message: ModuleBuffer) {}

    /// # Safety
    /// None: it does nothing.
    pub unsafe fn envoy_dynamic_module_callback_http_send_response(
        _filter: FilterEnvoyPtr,
        _status_code: u32,
        _headers: *const ModuleHttpHeader,
        _headers_size: usize,
        _body: ModuleBuffer,
        _details: ModuleBuffer,
    ) {
    }
}
