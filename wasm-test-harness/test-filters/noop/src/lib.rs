//! The floor of a filter on redis-filter-core's guest layer, for benchmarks: with `{}` it lets
//! every request through untouched; `{"reads": N}` asks the host for a request header N times,
//! `{"sets": N}` sets N response headers, so the cost of one host call can be measured.

use redis_filter_core::proxy::host::{self, HeaderMap};
use redis_filter_core::proxy::{Action, HttpContext, RootContext};

redis_filter_core::filter_main!(|_| Box::new(Root::default()));

#[derive(Default, Clone, Copy)]
struct Root {
    reads: u64,
    sets: u64,
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let v: serde_json::Value = config
            .and_then(|c| serde_json::from_slice(&c).ok())
            .unwrap_or_default();
        self.reads = v["reads"].as_u64().unwrap_or(0);
        self.sets = v["sets"].as_u64().unwrap_or(0);
        true
    }

    fn create_http_context(&mut self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(*self))
    }
}

impl HttpContext for Root {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        for _ in 0..self.reads {
            let _ = host::header(HeaderMap::RequestHeaders, "x-consumer-id");
        }
        Action::Continue
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        for i in 0..self.sets {
            let _ = host::set_header(HeaderMap::ResponseHeaders, &format!("x-noop-{i}"), "1");
        }
        Action::Continue
    }
}
