//! The root context: parses the config once (the credentials with it).

use crate::config::Config;
use crate::request::{Filter, JwtRequest, NAME};
use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::respond::{self, RefusedConfig};
use redis_filter_core::proxy::{GuestHost, HttpContext, RootContext};
use std::rc::Rc;

pub struct Root {
    host: Rc<dyn FilterHost>,
    filter: Option<Rc<Filter>>,
    refused: bool,
}

impl Root {
    pub fn new(_id: u32) -> Self {
        Self {
            host: Rc::new(GuestHost),
            filter: None,
            refused: false,
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let built = Config::parse(&raw)
            .map(|config| Filter {
                config,
                host: self.host.clone(),
            })
            .map_err(|e| e.to_string());
        let host = self.host.clone();
        // No tick needed: 0 turns it off.
        respond::configure(host.as_ref(), built, 0, &mut self.filter, &mut self.refused)
    }

    fn create_http_context(&mut self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig { filter: NAME }));
        }
        let filter = self.filter.clone()?;
        Some(Box::new(JwtRequest::new(filter)))
    }
}
