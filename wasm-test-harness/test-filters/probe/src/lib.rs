//! Exercises the host functions the harness serves, one request path each:
//! `/probe/shared-incr` (shared data with compare-and-swap), `/probe/props` (properties),
//! `/probe/metric` (counter), `/probe/ticks` (tick timer), `/probe/queue` (shared queue),
//! `/probe/dispatch` (HTTP call from the request phase), `/probe/dispatch-in-response` (from the
//! response phase, which Kong forbids), `/probe/panic`, `/probe/state` (instance state: a
//! per-instance request count, lost when the instance is recycled), `/probe/body` (request body).

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, Status};
use std::cell::Cell;
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

thread_local! {
    static SEEN: Cell<u64> = const { Cell::new(0) };
}

#[derive(Default, Clone)]
struct Root {
    config: String,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        self.config = String::from_utf8_lossy(&self.get_plugin_configuration().unwrap_or_default())
            .into_owned();
        if self.config.contains("tick") {
            self.set_tick_period(Duration::from_millis(20));
        }
        let _ = self.register_shared_queue("probe");
        !self.config.contains("refuse")
    }

    fn on_tick(&mut self) {
        let _ = incr(self, "probe:ticks");
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Probe {
            config: self.config.clone(),
            path: String::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Adds one to a shared counter with a compare-and-swap loop; the new value.
fn incr(ctx: &dyn Context, key: &str) -> Result<u64, Status> {
    loop {
        let (value, cas) = ctx.get_shared_data(key);
        if value.is_none() {
            // An absent key can only be written unconditionally (Envoy's semantics): two
            // workers doing their first increment at once would both write 1. Create it as 0,
            // then count with compare-and-swap.
            ctx.set_shared_data(key, Some(b"0"), None)?;
            continue;
        }
        let n = value
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        match ctx.set_shared_data(key, Some(n.to_string().as_bytes()), cas) {
            Ok(()) => return Ok(n),
            Err(Status::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn property(ctx: &dyn Context, path: Vec<&str>) -> String {
    ctx.get_property(path)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "-".into())
}

struct Probe {
    config: String,
    path: String,
}

impl Context for Probe {
    fn on_http_call_response(&mut self, _: u32, _: usize, body_size: usize, _: usize) {
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_else(|| "none".into());
        let dispatch = self
            .get_http_call_response_header(":dispatch_status")
            .unwrap_or_else(|| "-".into());
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        self.send_http_response(
            200,
            vec![("x-call-status", &status), ("x-dispatch-status", &dispatch)],
            Some(&body),
        );
    }
}

impl HttpContext for Probe {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        self.path = self.get_http_request_header(":path").unwrap_or_default();
        let route = self.path.split('?').next().unwrap_or("").to_string();
        let seen = SEEN.with(|s| {
            s.set(s.get() + 1);
            s.get()
        });
        match route.as_str() {
            "/probe/shared-incr" => {
                let n = incr(self, "probe:counter")
                    .map(|n| n.to_string())
                    .unwrap_or_else(|e| format!("{e:?}"));
                self.send_http_response(200, vec![("x-counter", &n)], None);
                Action::Pause
            }
            "/probe/props" => {
                let body = format!(
                    "route_id={}\nservice_id={}\nsource={}\npath={}\nmethod={}\n",
                    property(self, vec!["kong", "route_id"]),
                    property(self, vec!["kong", "service_id"]),
                    property(self, vec!["source", "address"]),
                    property(self, vec!["request", "path"]),
                    property(self, vec!["request", "method"]),
                );
                self.send_http_response(200, vec![], Some(body.as_bytes()));
                Action::Pause
            }
            "/probe/metric" => {
                let id =
                    proxy_wasm::hostcalls::define_metric(MetricType::Counter, "probe_requests")
                        .unwrap_or(0);
                let _ = proxy_wasm::hostcalls::increment_metric(id, 1);
                let v = proxy_wasm::hostcalls::get_metric(id)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|e| format!("{e:?}"));
                self.send_http_response(200, vec![("x-metric", &v)], None);
                Action::Pause
            }
            "/probe/ticks" => {
                let (v, _) = self.get_shared_data("probe:ticks");
                let v = v
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| "0".into());
                self.send_http_response(200, vec![("x-ticks", &v)], None);
                Action::Pause
            }
            "/probe/queue" => {
                let id = self.resolve_shared_queue("", "probe");
                let echoed = id
                    .and_then(|q| self.enqueue_shared_queue(q, Some(b"item")).ok().map(|_| q))
                    .and_then(|q| self.dequeue_shared_queue(q).ok().flatten())
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| "none".into());
                self.send_http_response(200, vec![("x-queue", &echoed)], None);
                Action::Pause
            }
            "/probe/dispatch" => {
                let upstream = self
                    .get_http_request_header("x-upstream")
                    .unwrap_or_else(|| "echo".into());
                let path = self
                    .get_http_request_header("x-call-path")
                    .unwrap_or_else(|| "/called".into());
                match self.dispatch_http_call(
                    &upstream,
                    vec![(":method", "GET"), (":path", &path), (":authority", "echo")],
                    None,
                    vec![],
                    Duration::from_millis(500),
                ) {
                    Ok(_) => Action::Pause,
                    Err(e) => {
                        self.send_http_response(
                            502,
                            vec![("x-dispatch-error", &format!("{e:?}"))],
                            None,
                        );
                        Action::Pause
                    }
                }
            }
            "/probe/panic" => panic!("probe was asked to panic"),
            "/probe/state" => {
                self.send_http_response(200, vec![("x-seen", &seen.to_string())], None);
                Action::Pause
            }
            "/probe/body" if !end_of_stream => Action::Continue,
            _ => {
                if self.config.contains("mark") {
                    self.set_http_request_header("x-probe-request", Some("marked"));
                }
                Action::Continue
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if self.path.starts_with("/probe/body") {
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            let upper = String::from_utf8_lossy(&body).to_uppercase();
            self.set_http_request_body(0, body_size, upper.as_bytes());
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.set_http_response_header("x-probe", Some("seen"));
        if self.path.starts_with("/probe/dispatch-in-response") {
            let result = self.dispatch_http_call(
                "echo",
                vec![(":method", "GET"), (":path", "/"), (":authority", "echo")],
                None,
                vec![],
                Duration::from_millis(500),
            );
            self.set_http_response_header(
                "x-dispatch-result",
                Some(if result.is_ok() { "ok" } else { "refused" }),
            );
        }
        Action::Continue
    }
}
