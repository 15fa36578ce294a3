//! Host profiles: which host's rules the harness reproduces.

use proxy_wasm_host::abi::v0_2_1::Callback;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// ngx_wasm_module: dispatch only from the phases it allows (anything else traps), upstreams
    /// as `host:port` or `unix:/path`, gRPC calls do nothing, `Connection: close` on every call.
    Kong,
    /// Envoy: dispatch from any callback, upstreams are cluster names.
    Envoy,
}

impl Profile {
    /// A filter's local response body as the client gets it: ngx_wasm_module adds a newline
    /// (LF) after a non-empty body (`ngx_http_wasm_stash_local_response`, seen with the stock
    /// engine: a cached body of N bytes came back with N + 1).
    pub fn local_body(self, body: &mut Vec<u8>) {
        if self == Profile::Kong && !body.is_empty() {
            body.push(b'\n');
        }
    }

    /// Whether a dispatch may be made from this callback. `None` is a call outside any callback
    /// (start sequence), which Kong also refuses.
    pub fn allows_dispatch_from(self, callback: Option<Callback>) -> bool {
        match self {
            Profile::Envoy => true,
            Profile::Kong => matches!(
                callback,
                Some(
                    Callback::RequestHeaders
                        | Callback::RequestBody
                        | Callback::Tick
                        | Callback::HttpCallResponse
                        | Callback::ForeignFunction
                )
            ),
        }
    }

    /// The message ngx_wasm_module traps with.
    pub const KONG_DISPATCH_TRAP: &'static str = "can only send HTTP dispatch during \"on_request_headers\", \"on_request_body\", \"on_tick\", \"on_dispatch_response\", \"on_foreign_function\"";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kong_allows_only_its_phases() {
        assert!(Profile::Kong.allows_dispatch_from(Some(Callback::RequestHeaders)));
        assert!(Profile::Kong.allows_dispatch_from(Some(Callback::Tick)));
        assert!(!Profile::Kong.allows_dispatch_from(Some(Callback::ResponseHeaders)));
        assert!(!Profile::Kong.allows_dispatch_from(Some(Callback::Log)));
        assert!(Profile::Envoy.allows_dispatch_from(Some(Callback::Log)));
    }
}
