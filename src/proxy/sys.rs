//! The raw proxy-wasm ABI 0.2.1 host functions. Inside the VM they are imports from `env`;
//! natively they call the host a native build installs (`install`: the Envoy dynamic module's
//! adapter, native/src/proxy_host.rs), and fail with InternalFailure where none is installed
//! (unit tests, clippy), so the logic above them compiles and is tested without a host.

#![allow(clippy::too_many_arguments)]

macro_rules! host_functions {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> u32;)*) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "env")]
        extern "C" {
            $(pub fn $name($($arg: $ty),*) -> u32;)*
        }

        /// The host functions of a native build, one entry each (same arguments, same status
        /// codes, return blocks allocated as `proxy_on_memory_allocate` does).
        #[cfg(not(target_arch = "wasm32"))]
        #[derive(Clone, Copy)]
        pub struct NativeHost {
            $(pub $name: unsafe fn($($ty),*) -> u32,)*
            pub random_get: unsafe fn(*mut u8, usize) -> u16,
        }

        $(
            #[cfg(not(target_arch = "wasm32"))]
            pub unsafe fn $name($($arg: $ty),*) -> u32 {
                match NATIVE.get() {
                    // SAFETY: the caller keeps the ABI's contract; the host installed keeps it too.
                    Some(host) => unsafe { (host.$name)($($arg),*) },
                    None => INTERNAL_FAILURE,
                }
            }
        )*
    };
}

#[cfg(not(target_arch = "wasm32"))]
const INTERNAL_FAILURE: u32 = 10;

/// The native build's host, installed once.
#[cfg(not(target_arch = "wasm32"))]
static NATIVE: std::sync::OnceLock<NativeHost> = std::sync::OnceLock::new();

/// Installs the native build's host functions (once; later calls change nothing).
#[cfg(not(target_arch = "wasm32"))]
pub fn install(host: NativeHost) {
    let _ = NATIVE.set(host);
}

host_functions! {
    fn proxy_log(level: u32, message: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(buffer_type: u32, start: usize, max_size: usize, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_set_buffer_bytes(buffer_type: u32, start: usize, size: usize, data: *const u8, data_size: usize) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(map_type: u32, key: *const u8, key_size: usize, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_add_header_map_value(map_type: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_replace_header_map_value(map_type: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(path: *const u8, path_size: usize, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_set_property(path: *const u8, path_size: usize, value: *const u8, value_size: usize) -> u32;
    fn proxy_get_shared_data(key: *const u8, key_size: usize, return_data: *mut *mut u8, return_size: *mut usize, return_cas: *mut u32) -> u32;
    fn proxy_set_shared_data(key: *const u8, key_size: usize, value: *const u8, value_size: usize, cas: u32) -> u32;
    fn proxy_send_local_response(status_code: u32, details: *const u8, details_size: usize, body: *const u8, body_size: usize, headers: *const u8, headers_size: usize, grpc_status: i32) -> u32;
    fn proxy_http_call(upstream: *const u8, upstream_size: usize, headers: *const u8, headers_size: usize, body: *const u8, body_size: usize, trailers: *const u8, trailers_size: usize, timeout: u32, return_token: *mut u32) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(metric_type: u32, name: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_get_metric(metric_id: u32, return_value: *mut u64) -> u32;
}

// WASI's random source (every host here has it: Envoy, ngx_wasm_module, the harness).
#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    pub fn random_get(buf: *mut u8, buf_len: usize) -> u16;
}

/// Natively: the installed host's random source, else nothing random comes.
#[cfg(not(target_arch = "wasm32"))]
pub unsafe fn random_get(buf: *mut u8, buf_len: usize) -> u16 {
    match NATIVE.get() {
        // SAFETY: as for the host functions above.
        Some(host) => unsafe { (host.random_get)(buf, buf_len) },
        None => INTERNAL_FAILURE as u16,
    }
}
