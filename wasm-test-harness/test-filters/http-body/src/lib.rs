//! Like the SDK's http_body example: once the whole response body is there, replaces every
//! "secret" in it.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Body) });
}}

struct Body;

impl Context for Body {}

impl HttpContext for Body {
    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        // The length changes: drop the header, the host recomputes it.
        self.set_http_response_header("content-length", None);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if let Some(body) = self.get_http_response_body(0, body_size) {
            let text = String::from_utf8_lossy(&body).replace("secret", "******");
            self.set_http_response_body(0, body_size, text.as_bytes());
        }
        Action::Continue
    }
}
