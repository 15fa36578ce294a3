//! The floor of a filter on redis-filter-core's guest layer, for benchmarks: with `{}` it lets
//! every request through untouched. Each of these makes it do N host calls of one kind per
//! request, so their cost can be measured: `reads` (a request header), `sets` (a response
//! header, replacing), `adds` (a response header, adding), `props` (the `source.address` property), `shared` (a shared-data read and
//! compare-and-swap write), `metrics` (a counter increment), `clock` (the current time).

use redis_filter_core::proxy::abi::{self, HeaderMap, MetricType};
use redis_filter_core::proxy::{Action, HttpContext, RootContext};

redis_filter_core::filter_main!(|_| Box::new(Root::default()));

#[derive(Default, Clone, Copy)]
struct Root {
    reads: u64,
    sets: u64,
    adds: u64,
    props: u64,
    shared: u64,
    metrics: u64,
    clock: u64,
    metric: Option<u32>,
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let v: serde_json::Value = config
            .and_then(|c| serde_json::from_slice(&c).ok())
            .unwrap_or_default();
        let n = |name: &str| v[name].as_u64().unwrap_or(0);
        self.reads = n("reads");
        self.sets = n("sets");
        self.adds = n("adds");
        self.props = n("props");
        self.shared = n("shared");
        self.metrics = n("metrics");
        self.clock = n("clock");
        self.metric = abi::define_metric(MetricType::Counter, "noop.requests").ok();
        true
    }

    fn create_http_context(&mut self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(*self))
    }
}

impl HttpContext for Root {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        for _ in 0..self.reads {
            let _ = abi::header(HeaderMap::RequestHeaders, "x-consumer-id");
        }
        for _ in 0..self.props {
            let _ = abi::property(&["source", "address"]);
        }
        for _ in 0..self.shared {
            if let Ok((value, cas)) = abi::shared_data("noop") {
                let n = value.map_or(0, |v| v.len());
                let _ = abi::set_shared_data("noop", &[b'1'; 8][..n.clamp(1, 8)], cas);
            }
        }
        for _ in 0..self.metrics {
            if let Some(id) = self.metric {
                let _ = abi::increment_metric(id, 1);
            }
        }
        for _ in 0..self.clock {
            let _ = abi::now_ms();
        }
        Action::Continue
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        for i in 0..self.sets {
            let _ = abi::set_header(HeaderMap::ResponseHeaders, &format!("x-noop-{i}"), "1");
        }
        for i in 0..self.adds {
            let _ = abi::add_header(HeaderMap::ResponseHeaders, &format!("x-noop-{i}"), "1");
        }
        Action::Continue
    }
}
