//! Like the SDK's http_auth_random example, made deterministic: every request pauses on a
//! dispatch to the upstream named in the config (`{"upstream": "...", "authority": "..."}`),
//! and goes on if that call answers 200, else gets a 403 "Access forbidden.". The request's
//! `x-auth-status` header sets the status the echo upstream answers the call with.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Default, Clone)]
struct Root {
    upstream: String,
    authority: String,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let text = String::from_utf8_lossy(&config);
        let field = |name: &str| -> Option<String> {
            let start = text.find(&format!("\"{name}\""))?;
            let rest = &text[start + name.len() + 2..];
            let open = rest.find('"')? + 1;
            let close = rest[open..].find('"')? + open;
            Some(rest[open..close].to_string())
        };
        self.upstream = field("upstream").unwrap_or_else(|| "echo".into());
        self.authority = field("authority").unwrap_or_else(|| "echo".into());
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Auth { root: self.clone() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Auth {
    root: Root,
}

impl HttpContext for Auth {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let status = self
            .get_http_request_header("x-auth-status")
            .unwrap_or_else(|| "200".into());
        let path = format!("/auth?status={status}");
        match self.dispatch_http_call(
            &self.root.upstream,
            vec![
                (":method", "GET"),
                (":path", &path),
                (":authority", &self.root.authority),
            ],
            None,
            vec![],
            Duration::from_secs(5),
        ) {
            Ok(_) => Action::Pause,
            Err(e) => {
                log::error!("dispatch failed: {e:?}");
                self.send_http_response(500, vec![], Some(b"dispatch failed\n"));
                Action::Pause
            }
        }
    }
}

impl Context for Auth {
    fn on_http_call_response(&mut self, _: u32, _: usize, _: usize, _: usize) {
        match self.get_http_call_response_header(":status").as_deref() {
            Some("200") => {
                self.set_http_request_header("x-auth", Some("passed"));
                self.resume_http_request();
            }
            _ => self.send_http_response(
                403,
                vec![("Powered-By", "proxy-wasm")],
                Some(b"Access forbidden.\n"),
            ),
        }
    }
}
