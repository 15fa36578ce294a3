//! A filter on redis-filter-core's own guest layer: each request INCRs the key named in its
//! `x-key` header through the RESP tunnel (batched by the root's multiplexer) and carries the
//! count upstream and back as `x-redis-count`; a Redis failure is a 503 with the error.

use redis_filter_core::job::Pipeline;
use redis_filter_core::proxy::abi::{self, HeaderMap, LogLevel};
use redis_filter_core::proxy::{Action, HttpContext, RedisClient, RootContext, SharedClient};
use redis_filter_core::transport::Submitted;
use redis_filter_core::{Command, Fields, Outcome, RedisConfig, Reply};

redis_filter_core::filter_main!(|id| Box::new(Root { id, client: None }));

struct Root {
    id: u32,
    client: Option<SharedClient>,
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let parsed = serde_json::from_slice::<serde_json::Value>(&raw)
            .map_err(|e| format!("invalid config: {e}"))
            .and_then(|v| {
                let mut top = Fields::new("", &v).map_err(|e| e.to_string())?;
                let redis = RedisConfig::from_plugin_config(&mut top).map_err(|e| e.to_string())?;
                top.finish().map_err(|e| e.to_string())?;
                RedisClient::new(self.id, &redis)
            });
        match parsed {
            Ok(client) => {
                self.client = Some(client);
                let _ = abi::set_tick_period_ms(100);
                true
            }
            Err(e) => {
                abi::log(LogLevel::Error, &e);
                false
            }
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let client = self.client.clone()?;
        Some(Box::new(Probe {
            id: context_id,
            client,
            count: None,
        }))
    }
}

struct Probe {
    id: u32,
    client: SharedClient,
    count: Option<i64>,
}

impl Probe {
    /// Applies the outcome: Continue to go upstream, Pause after a local response.
    fn apply(&mut self, outcome: Outcome) -> Action {
        match outcome.map(|r| r.into_iter().next()) {
            Ok(Some(Reply::Int(n))) => {
                self.count = Some(n);
                let _ = abi::set_header(HeaderMap::RequestHeaders, "x-redis-count", &n.to_string());
                Action::Continue
            }
            Ok(other) => self.fail(&format!("unexpected reply {other:?}")),
            Err(e) => self.fail(&e.to_string()),
        }
    }

    fn fail(&self, message: &str) -> Action {
        let _ = abi::send_response(503, &[("x-redis-error", message)], message.as_bytes());
        Action::Pause
    }
}

impl HttpContext for Probe {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let key = abi::header(HeaderMap::RequestHeaders, "x-key")
            .ok()
            .flatten()
            .unwrap_or_else(|| "probe".into());
        let job = Box::new(Pipeline::commands(vec![Command::new("INCR").arg(key)]));
        let submitted = match self.client.try_borrow_mut() {
            Ok(mut c) => c.submit(self.id, 0, job),
            Err(_) => return self.fail("redis client busy"),
        };
        match submitted {
            Submitted::Pending => Action::Pause,
            Submitted::Done(outcome) => self.apply(outcome),
        }
    }

    fn on_redis(&mut self, _tag: u32, outcome: Outcome) -> Action {
        self.apply(outcome)
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        if let Some(n) = self.count {
            let _ = abi::set_header(HeaderMap::ResponseHeaders, "x-redis-count", &n.to_string());
        }
        Action::Continue
    }
}
