//! A root's config, once parsed: the filter it built takes over, or the refusal is logged once
//! and, where refusing would take the worker down (Kong's engine), every request gets Kong's 500.

use super::context::{Action, HttpContext};
use super::respond::kong_error;
use crate::filter_host::{FilterHost, LogLevel};

/// What a root does with the filter it built from its config (`on_configure`'s answer): a
/// built filter replaces the old one and the root ticks every `tick_ms`; a refused config is
/// logged once with its field and refused, or, where refusing would take the worker down
/// (Kong's engine), accepted with `refused` set so every request gets Kong's 500.
pub fn configure<F>(
    host: &dyn FilterHost,
    built: Result<F, String>,
    tick_ms: u32,
    filter: &mut Option<std::rc::Rc<F>>,
    refused: &mut bool,
) -> bool {
    match built {
        Ok(f) => {
            *refused = false;
            *filter = Some(std::rc::Rc::new(f));
            if !host.set_tick_period_ms(tick_ms) {
                host.log(LogLevel::Warn, &format!("no tick of {tick_ms} ms"));
            }
            true
        }
        Err(e) => {
            *filter = None;
            if host.refusing_config_is_fatal() {
                let line = format!("{e}; every request gets 500 until the config is fixed");
                host.log(LogLevel::Error, &line);
                *refused = true;
                return true;
            }
            host.log(LogLevel::Error, &e);
            false
        }
    }
}

/// The requests of a filter whose config was refused, where refusing it at load would take the
/// worker down: each gets Kong's 500, and the reason was logged once at configure time.
pub struct RefusedConfig {
    pub filter: &'static str,
    pub host: std::rc::Rc<dyn FilterHost>,
}

impl HttpContext for RefusedConfig {
    fn on_request_headers(&mut self, _: usize, _: bool) -> Action {
        kong_error(
            self.host.as_ref(),
            self.filter,
            500,
            "An unexpected error occurred",
            &[],
        )
    }
}
