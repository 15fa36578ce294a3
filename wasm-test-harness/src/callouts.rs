//! The `Callouts` service: accepts a guest's HTTP call under the profile's rules and leaves it in
//! the worker's outbox; the worker makes the call once the callback returns.

use crate::profile::Profile;
use proxy_wasm_host::abi::v0_2_1::{
    CalloutId, Callouts, ContextId, GuestId, HttpCall, HttpCallRefusal, Invocation,
};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct PendingCall {
    pub guest: GuestId,
    pub context: ContextId,
    pub callout: CalloutId,
    pub request: HttpCall<'static>,
}

/// A guest broke one of the host's rules (Kong traps: the instance is recycled).
#[derive(Debug, Clone)]
pub struct Violation {
    pub guest: GuestId,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Outbox {
    pub calls: Vec<PendingCall>,
    pub violations: Vec<Violation>,
}

pub struct Dispatches {
    profile: Profile,
    /// Upstream names the host knows (Envoy cluster names; Kong accepts any host:port).
    known: Vec<String>,
    pub outbox: Arc<Mutex<Outbox>>,
}

impl Dispatches {
    pub fn new(profile: Profile, known: Vec<String>) -> Self {
        Self {
            profile,
            known,
            outbox: Arc::new(Mutex::new(Outbox::default())),
        }
    }
}

/// `host:port`, `[v6]:port` or `unix:/path`, as ngx_wasm_module takes them.
pub fn is_kong_upstream(upstream: &str) -> bool {
    if upstream.starts_with("unix:/") {
        return true;
    }
    match upstream.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => !upstream.is_empty(),
    }
}

impl Callouts for Dispatches {
    fn http_call(
        &self,
        call: Invocation,
        callout: CalloutId,
        request: HttpCall<'_>,
    ) -> Result<(), HttpCallRefusal> {
        crate::call_counts::count(crate::call_counts::Counted::HttpCall);
        let upstream = String::from_utf8_lossy(&request.upstream).into_owned();
        let mut outbox = self.outbox.lock().map_err(|_| HttpCallRefusal::Failed)?;
        if !self.profile.allows_dispatch_from(call.callback) {
            outbox.violations.push(Violation {
                guest: call.guest,
                message: Profile::KONG_DISPATCH_TRAP.to_string(),
            });
            return Err(HttpCallRefusal::Failed);
        }
        let known = match self.profile {
            Profile::Kong => is_kong_upstream(&upstream),
            Profile::Envoy => self.known.contains(&upstream),
        };
        if !known {
            return Err(HttpCallRefusal::UnknownUpstream);
        }
        outbox.calls.push(PendingCall {
            guest: call.guest,
            context: call.context,
            callout,
            request: request.into_owned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kong_upstreams_are_host_port_or_unix() {
        assert!(is_kong_upstream("127.0.0.1:6390"));
        assert!(is_kong_upstream("unix:/tmp/redis.sock"));
        assert!(is_kong_upstream("redis.local"));
        assert!(!is_kong_upstream("127.0.0.1:port"));
    }
}
