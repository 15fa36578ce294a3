//! Higress' Redis host calls, used instead of the RESP tunnel in the `higress` build (a module
//! importing these loads only in Higress). The host keeps an authenticated connection pool per
//! cluster; the filter sends raw RESP and gets raw RESP back.

use super::abi;
use super::host_shared_data::HostSharedData;
use super::redis_transport::Transport;
use super::runtime;
use crate::config::{NodeAddr, RedisConfig, RedisMode};
use crate::shared_data::{SetError, SharedData};
use crate::transport::{Affinity, CallResponse, Dispatcher, Framing, TlsAsk};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_redis_init(
        service: *const u8,
        service_size: usize,
        user: *const u8,
        user_size: usize,
        pass: *const u8,
        pass_size: usize,
        timeout: u32,
    ) -> u32;
    fn proxy_redis_call(
        service: *const u8,
        service_size: usize,
        query: *const u8,
        query_size: usize,
        return_token: *mut u32,
    ) -> u32;
}

#[cfg(not(target_arch = "wasm32"))]
unsafe fn proxy_redis_init(
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: u32,
) -> u32 {
    10
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn proxy_redis_call(_: *const u8, _: usize, _: *const u8, _: usize, _: *mut u32) -> u32 {
    10
}

/// Buffer type of the redis call's reply.
const REDIS_CALL_RESPONSE: u32 = 9;

/// Higress' `Dispatcher`: the query goes to the configured service with `proxy_redis_call`.
pub struct HigressTransport;

impl Transport for HigressTransport {
    fn framing(config: &RedisConfig) -> Result<Framing, String> {
        if !matches!(config.mode, RedisMode::Standalone(_)) {
            return Err(
                "redis: Higress' proxy_redis_call reaches one configured service; \
                 sentinel_* and cluster_nodes need the RESP tunnel build"
                    .into(),
            );
        }
        if config.ssl {
            // TLS to Redis is the Higress service's own setting; the filter cannot ask for it
            // per call, and must not let `ssl` pass as if it were honoured.
            return Err(
                "redis.ssl: Higress' proxy_redis_call cannot be asked for TLS; set TLS on the \
                 Higress Redis service and leave ssl off, or use the RESP tunnel build"
                    .into(),
            );
        }
        Ok(Framing::pooled(config))
    }

    fn init(config: &RedisConfig) -> Result<(), String> {
        init(config)
    }

    fn new(_root_id: u32, _affinity: Affinity) -> Self {
        HigressTransport
    }
}

impl SharedData for HigressTransport {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        HostSharedData.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        HostSharedData.set(key, value, cas)
    }
}

impl Dispatcher for HigressTransport {
    fn current_context(&self) -> u32 {
        runtime::current_context()
    }

    fn dispatch(
        &mut self,
        upstream: &str,
        _node: &NodeAddr,
        body: Vec<u8>,
        _timeout_ms: u32,
        _tls: Option<&TlsAsk>,
    ) -> Result<u32, String> {
        call(upstream, &body)
            .map_err(|s| format!("host refused the call to {upstream:?} (status {})", s.0))
    }
}

fn init(config: &RedisConfig) -> Result<(), String> {
    let service = &config.tunnel;
    let user = config.username.as_deref().unwrap_or("");
    let pass = config.password.as_deref().unwrap_or("");
    let code = unsafe {
        proxy_redis_init(
            service.as_ptr(),
            service.len(),
            user.as_ptr(),
            user.len(),
            pass.as_ptr(),
            pass.len(),
            config.call_timeout_ms(),
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(format!(
            "proxy_redis_init({service}) failed with status {code}"
        ))
    }
}

fn call(service: &str, query: &[u8]) -> Result<u32, abi::Status> {
    let mut token = 0u32;
    let code = unsafe {
        proxy_redis_call(
            service.as_ptr(),
            service.len(),
            query.as_ptr(),
            query.len(),
            &mut token,
        )
    };
    if code == 0 {
        Ok(token)
    } else {
        Err(abi::Status(code))
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_redis_call_response(
    context_id: u32,
    token: u32,
    status: u32,
    size: usize,
) {
    super::runtime::call_response(context_id, token, || {
        let body = if status == 0 {
            abi::raw_buffer(REDIS_CALL_RESPONSE, 0, size)
                .ok()
                .flatten()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        CallResponse {
            status: (status == 0).then_some(200),
            failure: (status != 0).then(|| format!("redis call failed (status {status})")),
            body,
        }
    });
}
