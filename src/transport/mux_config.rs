//! What a multiplexer is built with: the tunnel it calls through, how long a job may wait, and
//! the limits of its queues, batches and breakers, drawn from the filter's Redis config.

use super::TlsAsk;
use crate::config::RedisConfig;

#[derive(Debug, Clone)]
pub struct MuxConfig {
    pub upstream: String,
    /// A job waits at most this long, queued or in flight.
    pub timeout_ms: u32,
    /// Jobs waiting per node beyond this are refused at once (`Overloaded`).
    pub max_queue: usize,
    /// Commands per call; more wait for the next call.
    pub max_batch: usize,
    pub failure_threshold: u32,
    pub backoff_ms: u64,
    /// TLS asked of the tunnel for every call (data nodes and sentinels alike).
    pub tls: Option<TlsAsk>,
}

impl MuxConfig {
    pub fn from_redis(config: &RedisConfig) -> Self {
        Self {
            upstream: config.tunnel.clone(),
            timeout_ms: config.call_timeout_ms(),
            max_queue: 4096,
            max_batch: 1024,
            failure_threshold: 3,
            backoff_ms: 1000,
            tls: TlsAsk::from_config(config),
        }
    }
}
