//! Kong's engine appends a newline (LF) to a local response's non-empty body and counts it in
//! `Content-Length` (engine bug 6, docs/kong-engine.md): a stored body sent as a local response
//! takes it back in the response phases, the length in `on_response_headers` and the byte in
//! `on_response_body`, so the client gets the stored bytes exactly.

use super::*;

impl CacheRequest {
    /// Before `body` goes as this request's local response: None if it cannot come out exact
    /// (this worker's host would not let the newline go: the request then goes upstream), else
    /// the length the response phases restore, where the host adds the newline.
    pub(super) fn exact_local_body(&self, body: &[u8]) -> Option<Option<usize>> {
        if body.is_empty() || !self.filter.host.local_body_gets_newline() {
            return Some(None);
        }
        if self.filter.newline_stays.get() {
            return None;
        }
        Some(Some(body.len()))
    }

    /// `on_response_headers` of the local response: the length without the newline (the
    /// engine's `content_length_n` follows a `Content-Length` a filter sets there).
    pub(super) fn restore_length(&self, newline: Option<usize>) {
        if let Some(length) = newline {
            let host = &self.filter.host;
            host.set_response_header("content-length", &length.to_string());
        }
    }

    /// `on_response_body` of the local response: the chunk of the body sent plus one byte is
    /// it with the newline, cut at the body's length. Decided by the size alone: the engine's
    /// `end_of_stream` compares the chunk with the `Content-Length` the chain's last filter
    /// saw before its `on_response_headers`, which is ours (the length without the newline)
    /// when a filter follows this one; and a later call with no bytes (the engine calls
    /// again once the client's socket would block) is no body. Returns what is still to cut.
    pub(super) fn cut_newline(&self, newline: Option<usize>, size: usize) -> Option<usize> {
        let length = newline?;
        if size == 0 {
            return Some(length);
        }
        // The body as sent: an engine without the newline (bug 6 fixed) has nothing to cut.
        if size == length {
            return None;
        }
        if size == length + 1 && self.filter.host.cut_response_body(length, size) {
            return None;
        }
        if !self.filter.newline_stays.replace(true) {
            let line = format!(
                "[proxy-cache] the newline the host added after a cached body of {length} bytes \
                 could not be taken back (body chunk of {size} bytes): this worker now sends \
                 requests for cached bodies upstream (Bypass)"
            );
            self.filter.host.log(LogLevel::Error, &line);
        }
        None
    }
}
