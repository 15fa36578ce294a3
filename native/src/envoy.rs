//! Safe calls of Envoy's callbacks (`abi.rs`) for the host functions: each copies what Envoy
//! lends (its buffers live only for the hook) and turns a failure into a value.

use crate::abi::{self, EnvoyBuffer, EnvoyHttpHeader, FilterEnvoyPtr, ModuleBuffer};
use crate::abi::{HeaderType, ModuleHttpHeader};
use crate::worker::Answer;

/// A stream, by Envoy's handle.
#[derive(Clone, Copy)]
pub struct Stream(pub FilterEnvoyPtr);

#[derive(Clone, Copy)]
pub enum HeaderKind {
    RequestHeaders = 0,
    RequestTrailers = 1,
    ResponseHeaders = 2,
    ResponseTrailers = 3,
}

impl HeaderKind {
    fn abi(self) -> HeaderType {
        self as HeaderType
    }
}

fn copy(buffer: EnvoyBuffer) -> Vec<u8> {
    buffer.to_vec()
}

/// The first value of header `key`.
pub fn header(stream: Stream, kind: HeaderKind, key: &[u8]) -> Option<Vec<u8>> {
    let mut out = EnvoyBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };
    // SAFETY: a live stream's handle; `key` lives for the call; Envoy writes `out`.
    let found = unsafe {
        abi::envoy_dynamic_module_callback_http_get_header(
            stream.0,
            kind.abi(),
            ModuleBuffer::of(key),
            &mut out,
            0,
            std::ptr::null_mut(),
        )
    };
    found.then(|| copy(out))
}

/// Every header of a map, pseudo-headers included.
pub fn headers(stream: Stream, kind: HeaderKind) -> Vec<(String, Vec<u8>)> {
    // SAFETY: a live stream's handle; `out` has room for the count Envoy gave.
    unsafe {
        let n = abi::envoy_dynamic_module_callback_http_get_headers_size(stream.0, kind.abi());
        if n == 0 {
            return Vec::new();
        }
        let empty = EnvoyBuffer {
            ptr: std::ptr::null(),
            length: 0,
        };
        let mut out: Vec<EnvoyHttpHeader> = (0..n)
            .map(|_| EnvoyHttpHeader {
                key: empty,
                value: empty,
            })
            .collect();
        if !abi::envoy_dynamic_module_callback_http_get_headers(
            stream.0,
            kind.abi(),
            out.as_mut_ptr(),
        ) {
            return Vec::new();
        }
        out.iter()
            .map(|h| {
                let key = String::from_utf8_lossy(&copy(h.key)).into_owned();
                (key, copy(h.value))
            })
            .collect()
    }
}

/// Sets (or with `None` removes) header `key`.
pub fn set_header(stream: Stream, kind: HeaderKind, key: &[u8], value: Option<&[u8]>) -> bool {
    let value = match value {
        Some(v) => ModuleBuffer::of(v),
        None => ModuleBuffer {
            ptr: std::ptr::null(),
            length: 0,
        },
    };
    // SAFETY: a live stream's handle; the buffers live for the call.
    unsafe {
        abi::envoy_dynamic_module_callback_http_set_header(
            stream.0,
            kind.abi(),
            ModuleBuffer::of(key),
            value,
        )
    }
}

/// Adds a value of header `key`.
pub fn add_header(stream: Stream, kind: HeaderKind, key: &[u8], value: &[u8]) -> bool {
    // SAFETY: a live stream's handle; the buffers live for the call.
    unsafe {
        abi::envoy_dynamic_module_callback_http_add_header(
            stream.0,
            kind.abi(),
            ModuleBuffer::of(key),
            ModuleBuffer::of(value),
        )
    }
}

fn body_type(request: bool) -> abi::BodyType {
    if request {
        abi::RECEIVED_REQUEST_BODY
    } else {
        abi::RECEIVED_RESPONSE_BODY
    }
}

/// The length of the body chunk the running hook received.
pub fn body_size(stream: Stream, request: bool) -> usize {
    // SAFETY: a live stream's handle.
    unsafe { abi::envoy_dynamic_module_callback_http_get_body_size(stream.0, body_type(request)) }
}

/// The body chunk the running hook received.
pub fn body(stream: Stream, request: bool) -> Vec<u8> {
    let kind = body_type(request);
    // SAFETY: a live stream's handle; `slices` has room for the count Envoy gave.
    unsafe {
        let n = abi::envoy_dynamic_module_callback_http_get_body_chunks_size(stream.0, kind);
        let empty = EnvoyBuffer {
            ptr: std::ptr::null(),
            length: 0,
        };
        let mut slices = vec![empty; n];
        if n == 0
            || !abi::envoy_dynamic_module_callback_http_get_body_chunks(
                stream.0,
                kind,
                slices.as_mut_ptr(),
            )
        {
            return Vec::new();
        }
        slices.into_iter().flat_map(copy).collect()
    }
}

/// Replaces the body chunk the running hook received with `body`.
pub fn replace_body(stream: Stream, request: bool, body: &[u8]) -> bool {
    let kind = body_type(request);
    // SAFETY: a live stream's handle; `body` lives for the call.
    unsafe {
        let size = abi::envoy_dynamic_module_callback_http_get_body_size(stream.0, kind);
        (size == 0 || abi::envoy_dynamic_module_callback_http_drain_body(stream.0, kind, size))
            && (body.is_empty()
                || abi::envoy_dynamic_module_callback_http_append_body(
                    stream.0,
                    kind,
                    ModuleBuffer::of(body),
                ))
    }
}

/// Headers lent to Envoy for one call (they borrow from `headers`).
fn lend(headers: &[(String, Vec<u8>)]) -> Vec<ModuleHttpHeader> {
    headers
        .iter()
        .map(|(k, v)| ModuleHttpHeader {
            key: ModuleBuffer::of(k.as_bytes()),
            value: ModuleBuffer::of(v),
        })
        .collect()
}

/// Answers the stream locally.
pub fn send_response(
    stream: Stream,
    status: u32,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    details: &[u8],
) {
    let lent = lend(headers);
    // SAFETY: a live stream's handle; `lent` and the buffers live for the call.
    unsafe {
        abi::envoy_dynamic_module_callback_http_send_response(
            stream.0,
            status,
            lent.as_ptr(),
            lent.len(),
            ModuleBuffer::of(body),
            ModuleBuffer::of(details),
        );
    }
}

/// Resumes the request (`request`) or the response of a stream a hook stopped.
pub fn resume(stream: Stream, request: bool) {
    // SAFETY: a live stream's handle.
    unsafe {
        if request {
            abi::envoy_dynamic_module_callback_http_filter_continue_decoding(stream.0);
        } else {
            abi::envoy_dynamic_module_callback_http_filter_continue_encoding(stream.0);
        }
    }
}

/// Sends a callout to `cluster` for the stream; its id, or Err if Envoy refused it.
pub fn callout(
    stream: Stream,
    cluster: &[u8],
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    timeout_ms: u32,
) -> Result<u64, ()> {
    let lent = lend(headers);
    let mut id = 0u64;
    // SAFETY: a live stream's handle; everything lent lives for the call (Envoy copies it).
    let result = unsafe {
        abi::envoy_dynamic_module_callback_http_filter_http_callout(
            stream.0,
            &mut id,
            ModuleBuffer::of(cluster),
            lent.as_ptr(),
            lent.len(),
            ModuleBuffer::of(body),
            u64::from(timeout_ms),
        )
    };
    if result == abi::CALLOUT_INIT_SUCCESS {
        Ok(id)
    } else {
        crate::abi::log(
            abi::LOG_ERROR,
            &format!(
                "redis_filters: callout to {:?} refused (result {result})",
                String::from_utf8_lossy(cluster)
            ),
        );
        Err(())
    }
}

/// A callout's answer, copied out of Envoy's buffers.
pub fn answer(
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    chunks: *const EnvoyBuffer,
    chunks_size: usize,
) -> Answer {
    // SAFETY: Envoy passes `headers_size` headers and `chunks_size` chunks, alive for the hook.
    let (headers, chunks) = unsafe { (slice(headers, headers_size), slice(chunks, chunks_size)) };
    Answer {
        headers: headers
            .iter()
            .map(|h| {
                (
                    String::from_utf8_lossy(&copy(h.key)).into_owned(),
                    copy(h.value),
                )
            })
            .collect(),
        body: chunks.iter().flat_map(|c| copy(*c)).collect(),
    }
}

unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller's.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// A property the filters read: `source.address`, `request.id` and `request.protocol` from the
/// stream's attributes; any other from the stream's filter state, where the filters put what
/// they hand on (`set_property`). Kong's (`kong.route_id`, ...) are absent, as they are in
/// Envoy's Wasm filters.
pub fn property(stream: Stream, path: &str) -> Option<Vec<u8>> {
    let attribute = match path {
        "source.address" => abi::ATTRIBUTE_SOURCE_ADDRESS,
        "request.id" => abi::ATTRIBUTE_REQUEST_ID,
        "request.protocol" => abi::ATTRIBUTE_REQUEST_PROTOCOL,
        _ => return filter_state(stream, path),
    };
    let mut out = EnvoyBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };
    // SAFETY: a live stream's handle; Envoy writes `out`.
    let found = unsafe {
        abi::envoy_dynamic_module_callback_http_filter_get_attribute_string(
            stream.0, attribute, &mut out,
        )
    };
    found.then(|| copy(out)).filter(|v| !v.is_empty())
}

/// Where a property lives in the stream's filter state: under `wasm.` as Envoy's Wasm filters
/// keep theirs, so a consumer a Wasm filter hands on reaches a native one.
fn state_key(path: &str) -> String {
    format!("wasm.{path}")
}

/// The stream's filter state for property `path`: bytes a native filter set, else the object a
/// Wasm filter set, serialised.
fn filter_state(stream: Stream, path: &str) -> Option<Vec<u8>> {
    let key = state_key(path);
    let read = |typed: bool| {
        let mut out = EnvoyBuffer {
            ptr: std::ptr::null(),
            length: 0,
        };
        let key = ModuleBuffer::of(key.as_bytes());
        // SAFETY: a live stream's handle; the key lives for the call; Envoy writes `out`.
        let found = unsafe {
            if typed {
                abi::envoy_dynamic_module_callback_http_get_filter_state_typed(
                    stream.0, key, &mut out,
                )
            } else {
                abi::envoy_dynamic_module_callback_http_get_filter_state_bytes(
                    stream.0, key, &mut out,
                )
            }
        };
        found.then(|| copy(out))
    };
    read(false).or_else(|| read(true))
}

/// Stores property `path` in the stream's filter state (every filter of the stream sees it).
pub fn set_property(stream: Stream, path: &str, value: &[u8]) -> bool {
    let key = state_key(path);
    // SAFETY: a live stream's handle; the buffers live for the call (Envoy copies them).
    unsafe {
        abi::envoy_dynamic_module_callback_http_set_filter_state_bytes(
            stream.0,
            ModuleBuffer::of(key.as_bytes()),
            ModuleBuffer::of(value),
        )
    }
}

/// Writes a log line.
pub fn log(level: u32, message: &[u8]) {
    // SAFETY: the buffer lives for the call; Envoy copies what it logs.
    unsafe { abi::envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message)) }
}

/// Creates counter `name` of config `config` (only while Envoy creates the config).
pub fn define_counter(config: usize, name: &str) -> Option<usize> {
    let mut id = 0usize;
    // SAFETY: the config Envoy is creating; the name lives for the call.
    let result = unsafe {
        abi::envoy_dynamic_module_callback_http_filter_config_define_counter(
            config as abi::ConfigEnvoyPtr,
            ModuleBuffer::of(name.as_bytes()),
            std::ptr::null(),
            0,
            &mut id,
        )
    };
    (result == abi::METRICS_SUCCESS).then_some(id)
}

/// Adds `by` to a config's counter.
pub fn increment_counter(config: usize, id: usize, by: u64) -> bool {
    // SAFETY: a live config's handle (its counters are forgotten when it goes).
    let result = unsafe {
        abi::envoy_dynamic_module_callback_http_filter_config_increment_counter(
            config as abi::ConfigEnvoyPtr,
            id,
            std::ptr::null(),
            0,
            by,
        )
    };
    result == abi::METRICS_SUCCESS
}
