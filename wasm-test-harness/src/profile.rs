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

    /// Whether a filter pausing on a call in a request phase meets Kong's engine bug 9
    /// (docs/kong-engine.md): it is the chain's last, and runs from an earlier filter's call
    /// answer (that filter paused in this step). The engine then records the step as done with
    /// the call out and does not hold the request: a client event before the call is under way
    /// lets the request go on without the last filter's verdict (proxied unchecked), and its end
    /// leaves the call to land on freed memory (workers exited on signal 11 under `wrk`). The
    /// harness answers such a request 500 and names the bug, so a chain that would crash the
    /// engine fails here too. A chain ended with `redis-chain-end` never meets it; neither does
    /// a last filter that pauses from the access phase itself (no earlier pause).
    pub fn pause_meets_bug_9(self, last: bool, after_a_pause: bool) -> bool {
        self == Profile::Kong && last && after_a_pause
    }

    /// Whether a local response a filter sends from a call's answer ends the request phase. Not
    /// in Kong's engine: there only the action of a local response sent from the phase itself
    /// stops the chain (`ngx_proxy_wasm_hfuncs_send_local_response` sets DONE unless the step is
    /// a call's answer, ngx_proxy_wasm_host.c about line 1122), and once the last call is
    /// answered the dispatch resume handler sets CONTINUE and resumes the step at the next
    /// filter (ngx_http_proxy_wasm_dispatch.c about lines 946-953): the later filters' request
    /// headers run (a rate limit counts the refused request) before the response goes out
    /// (docs/kong-engine.md, item 12).
    pub fn local_from_answer_ends_phase(self) -> bool {
        self == Profile::Envoy
    }

    /// The harness' log line for a request refused by `pause_meets_bug_9`.
    pub fn bug_9_message(filter: &str) -> String {
        format!(
            "filter {filter}, the last of its chain, paused on a call after an earlier filter's \
             call: Kong's engine records the step as done with the call out, may proxy the \
             request without this filter's verdict and crash the worker (engine bug 9, \
             docs/kong-engine.md); end the chain with redis-chain-end"
        )
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

    #[test]
    fn only_a_last_filter_pausing_after_an_earlier_pause_meets_bug_9_in_kong() {
        assert!(Profile::Kong.pause_meets_bug_9(true, true));
        assert!(
            !Profile::Kong.pause_meets_bug_9(true, false),
            "from the access phase"
        );
        assert!(
            !Profile::Kong.pause_meets_bug_9(false, true),
            "a filter follows"
        );
        assert!(!Profile::Envoy.pause_meets_bug_9(true, true));
    }
}
