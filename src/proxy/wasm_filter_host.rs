//! `FilterHost` and `RedisSubmit` on the guest layer: what a filter's logic asks, answered by
//! the proxy-wasm host it runs in.

use super::abi::{self, HeaderMap, MetricType};
use super::host_shared_data::HostSharedData;
use super::redis::RedisClient;
use crate::filter_host::{FilterHost, LogLevel, RedisSubmit};
use crate::job::Job;
use crate::resp::RedisError;
use crate::shared_data::SharedData;
use crate::transport::Submitted;
use std::cell::RefCell;

/// The host the filter runs in.
pub struct WasmFilterHost;

impl FilterHost for WasmFilterHost {
    fn now_ms(&self) -> u64 {
        super::runtime::now_ms()
    }

    fn log(&self, level: LogLevel, message: &str) {
        abi::log(level, message);
    }

    fn request_header(&self, name: &str) -> Option<String> {
        abi::header(HeaderMap::RequestHeaders, name).ok().flatten()
    }

    fn property(&self, path: &[&str]) -> Option<String> {
        abi::property(path)
            .ok()
            .flatten()
            .map(super::abi::utf8)
            .filter(|s| !s.is_empty())
    }

    fn random(&self, out: &mut [u8]) -> bool {
        abi::random(out)
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> bool {
        abi::set_property(path, value).is_ok()
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) {
        let _ = match value {
            Some(v) => abi::set_header(HeaderMap::RequestHeaders, name, v),
            None => abi::remove_header(HeaderMap::RequestHeaders, name),
        };
    }

    fn add_response_header(&self, name: &str, value: &str) {
        let _ = abi::add_header(HeaderMap::ResponseHeaders, name, value);
    }

    fn set_response_header(&self, name: &str, value: &str) {
        let _ = abi::set_header(HeaderMap::ResponseHeaders, name, value);
    }

    fn response_header(&self, name: &str) -> Option<String> {
        abi::header(HeaderMap::ResponseHeaders, name).ok().flatten()
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        abi::headers(HeaderMap::ResponseHeaders)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        abi::buffer(abi::Buffer::HttpRequestBody, 0, size)
            .ok()
            .flatten()
    }

    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        abi::buffer(abi::Buffer::HttpResponseBody, 0, size)
            .ok()
            .flatten()
    }

    fn set_response_body(&self, size: usize, body: &[u8]) -> bool {
        // Kong's engine cuts the new bytes to `size` (the ABI replaces `size` bytes with all of
        // them, as Envoy does): asking to replace at least as many bytes as are given is the
        // same request to Envoy (the whole chunk goes) and is not cut by the engine.
        let size = size.max(body.len());
        abi::set_buffer(abi::Buffer::HttpResponseBody, 0, size, body).is_ok()
    }

    fn cut_response_body(&self, keep: usize, seen: usize) -> bool {
        // Replace the bytes after `keep` with nothing. Kong's engine drops everything after
        // the offset (`ngx_wasm_chain_clear`) and appends an empty buffer carrying the end of
        // the body; Envoy removes `seen - keep` bytes. Offset 0 with size 0 would prepend
        // there (`ngx_http_wasm_prepend_resp_body`), hence `keep` > 0.
        if keep == 0 || keep > seen {
            return false;
        }
        abi::set_buffer(abi::Buffer::HttpResponseBody, keep, seen - keep, &[]).is_ok()
    }

    fn local_body_gets_newline(&self) -> bool {
        // Kong's engine: ngx_wasm_module's local response appends LF to a non-empty body.
        super::runtime::affinity() == crate::transport::Affinity::PerContext
    }

    fn resumes_only_itself(&self) -> bool {
        super::runtime::affinity() == crate::transport::Affinity::PerContext
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        abi::send_response(status, headers, body).is_ok()
    }

    fn shared_data(&self) -> &dyn SharedData {
        &HostSharedData
    }

    fn counter(&self, name: &str) -> Option<u32> {
        abi::define_metric(MetricType::Counter, name).ok()
    }

    fn increment(&self, metric: u32, by: i64) {
        let _ = abi::increment_metric(metric, by);
    }

    fn refusing_config_is_fatal(&self) -> bool {
        super::runtime::refusing_config_is_fatal()
    }

    fn set_tick_period_ms(&self, ms: u32) -> bool {
        abi::set_tick_period_ms(ms).is_ok()
    }

    fn request_properties_readable(&self) -> bool {
        super::runtime::request_properties_readable()
    }
}

impl RedisSubmit for RefCell<RedisClient> {
    fn submit(&self, context_id: u32, tag: u32, job: Box<dyn Job>) -> Submitted {
        match self.try_borrow_mut() {
            Ok(mut client) => client.submit(context_id, tag, job),
            Err(_) => Submitted::Done(Err(RedisError::Transport("redis client busy".into()))),
        }
    }
}
