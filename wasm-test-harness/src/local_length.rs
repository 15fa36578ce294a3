//! Kong's engine's rules for the length of a local response, which the kong profile copies so
//! that a filter taking back the engine's newline (engine bug 6) is checked here as there.
//! Read in ngx_wasm_module a376e67:
//! - `ngx_http_wasm_flush_local_response` (src/http/ngx_http_wasm_local_response.c:219-231)
//!   sets `Content-Length` to the body as sent, LF included, over any length the filter gave;
//!   the response phases run after it (header filter, then body filter), and a
//!   `Content-Length` a filter sets in `on_response_headers` becomes `content_length_n`
//!   (src/http/ngx_http_wasm_headers_response.c:204-236);
//! - `on_response_body`'s `end_of_stream` is the chunk's length equal to the `Content-Length`
//!   read before the chain's last `on_response_headers` (src/http/proxy_wasm/
//!   ngx_http_proxy_wasm.c:187 and 227-229), so a filter followed by one that saw a length
//!   it set itself is told `false`;
//! - nginx sends the `Content-Length` the header filters left and then the body's bytes as
//!   they are: a length that is not the body's is a broken response for a keep-alive client.

use crate::headers::Headers;
use crate::profile::Profile;

/// The engine's `Content-Length` of a local response: its body as sent.
pub fn on_local_response(profile: Profile, headers: &mut Headers, body: &[u8]) {
    if profile == Profile::Kong {
        headers.set_str("content-length", &body.len().to_string());
    }
}

/// The `Content-Length` the engine reads before a filter's `on_response_headers`.
pub fn before_headers(headers: &Headers) -> Option<u64> {
    headers
        .get_str("content-length")
        .and_then(|v| v.trim().parse().ok())
}

/// `end_of_stream` for a local response's one body chunk of `len` bytes, given the length read
/// before the chain's last `on_response_headers` (elsewhere, and without a length: true).
pub fn end_of_stream(profile: Profile, local: bool, len: usize, seen: Option<u64>) -> bool {
    match (profile, local, seen) {
        (Profile::Kong, true, Some(n)) if n > 0 => len as u64 == n,
        _ => true,
    }
}

/// Why a local response would reach a client broken in Kong's engine: its `Content-Length`,
/// as the response phases left it, is not its body's length (None: it is, or no body is sent).
pub fn mismatch(profile: Profile, headers: &Headers, body: &[u8], head: bool) -> Option<String> {
    if profile != Profile::Kong || head {
        return None;
    }
    let length = before_headers(headers)?;
    (length != body.len() as u64).then(|| {
        format!(
            "a local response goes out with Content-Length {length} and {} bytes of body: Kong's \
             engine would send that as it is, a broken response (docs/kong-engine.md, bug 6)",
            body.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_counts_the_newline_and_a_filter_may_set_the_length_again() {
        let mut headers = Headers::default();
        on_local_response(Profile::Kong, &mut headers, b"ab\n");
        assert_eq!(before_headers(&headers), Some(3));
        assert!(mismatch(Profile::Kong, &headers, b"ab\n", false).is_none());
        headers.set_str("content-length", "2");
        assert!(mismatch(Profile::Kong, &headers, b"ab\n", false).is_some());
        assert!(mismatch(Profile::Kong, &headers, b"ab", false).is_none());
        assert!(mismatch(Profile::Kong, &headers, b"ab\n", true).is_none());
        let mut envoy = Headers::default();
        on_local_response(Profile::Envoy, &mut envoy, b"ab");
        assert_eq!(before_headers(&envoy), None);
    }

    #[test]
    fn end_of_stream_is_the_chunk_against_the_length_the_last_filter_saw() {
        assert!(end_of_stream(Profile::Kong, true, 3, Some(3)));
        assert!(!end_of_stream(Profile::Kong, true, 3, Some(2)));
        assert!(end_of_stream(Profile::Kong, true, 3, None));
        assert!(end_of_stream(Profile::Kong, false, 3, Some(2)));
        assert!(end_of_stream(Profile::Envoy, true, 3, Some(2)));
    }
}
