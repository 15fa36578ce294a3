//! A stand-in for an authentication filter, to test the consumer hand-off
//! (`redis_filter_core::identity`) on every host. Config:
//! - `{"keys": {"<api key>": {"id": ..., "username": ..., ...}}}`: a request whose `apikey`
//!   header is one of the keys is authenticated as that consumer, handed to the filters after
//!   this one; any other request goes on unauthenticated (nothing is handed over);
//! - `{"report": true}`: the consumer this filter was handed (its id, or `none`) goes back to
//!   the client as `x-handed-consumer`.

use redis_filter_core::filter_host::{FilterHost, LogLevel};
use redis_filter_core::identity::{self, Consumer};
use redis_filter_core::proxy::{Action, HttpContext, RootContext, WasmFilterHost};
use std::collections::HashMap;
use std::rc::Rc;

redis_filter_core::filter_main!(|_| Box::new(Root::default()));

#[derive(Default)]
struct Root {
    keys: Rc<HashMap<String, Consumer>>,
    report: bool,
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let value: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        self.report = value["report"].as_bool().unwrap_or(false);
        let keys = value["keys"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Consumer::from_json(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        self.keys = Rc::new(keys);
        true
    }

    fn create_http_context(&mut self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stub {
            keys: self.keys.clone(),
            report: self.report,
            handed: None,
        }))
    }
}

struct Stub {
    keys: Rc<HashMap<String, Consumer>>,
    report: bool,
    handed: Option<String>,
}

impl HttpContext for Stub {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        let host = WasmFilterHost;
        if self.report {
            let consumer = identity::handed(&host);
            self.handed = Some(consumer.map_or_else(|| "none".into(), |c| c.id));
            return Action::Continue;
        }
        let key = host.request_header("apikey").unwrap_or_default();
        if let Some(consumer) = self.keys.get(&key) {
            if let Err(e) = identity::hand_over(&host, consumer) {
                host.log(LogLevel::Error, &e);
            }
        }
        Action::Continue
    }

    fn on_response_headers(&mut self, _: usize, _: bool) -> Action {
        if let Some(id) = &self.handed {
            WasmFilterHost.set_response_header("x-handed-consumer", id);
        }
        Action::Continue
    }
}
