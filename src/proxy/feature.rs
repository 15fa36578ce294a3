//! One root context for every filter. A filter is a `Feature`: what it builds from its config,
//! how often its root wakes, what its root does on a tick and with the answers to its own Redis
//! work, and the request context it gives each request. `FeatureRoot` does the rest the same way
//! for all of them: the config read once per `on_configure`, a refused config logged with its
//! field and refused (or, where refusing would take the worker down, answered with Kong's 500
//! on every request: `root_config::configure`), the tick set, the root's callbacks handed on.

use super::context::{HttpContext, RootContext};
use super::root_config::{self, RefusedConfig};
use super::wasm_filter_host::WasmFilterHost;
use crate::filter_host::FilterHost;
use crate::Outcome;
use std::rc::Rc;

/// A filter, as its root context sees it.
pub trait Feature: Sized + 'static {
    /// Its name (`redis-rate-limiting`), in its log lines and its 500s.
    const NAME: &'static str;

    /// Builds the filter from its raw config (`{}` when it has none), with the Redis client its
    /// config asks for; the error names the field.
    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String>;

    /// How often the root wakes once built, in ms (0: never).
    fn tick_ms(&self) -> u32;

    /// The root's tick.
    fn on_tick(_filter: &Rc<Self>, _root_id: u32) {}

    /// The answer to Redis work the root itself submitted (`tag` is the root's own).
    fn on_redis(_filter: &Rc<Self>, _tag: u32, _outcome: Outcome) {}

    /// The context of a new request.
    fn request(filter: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext>;

    /// The periodic work the root holds (rate limiting's `sync_rate` keys with deltas to send),
    /// taken from it for another root of the same config to do: a host with no tick for an
    /// idle worker (the Envoy module) hands it to a root that keeps ticking. `None`: nothing.
    fn hand_over(&self) -> Option<Vec<u8>> {
        None
    }

    /// Takes over what another root of the same config handed over (`hand_over`).
    fn take_over(_filter: &Rc<Self>, _work: &[u8]) {}

    /// Whether the root's tick still has work to do (keys to flush, a flush in flight).
    fn holds_work(&self) -> bool {
        false
    }

    /// Whether the root ever has Redis work of its own that no request waits for (a
    /// `sync_rate` flush, a revocation written as a response passes), or work to hand over:
    /// fixed by the config. A native host looks after only these roots as a worker goes idle.
    fn root_works(&self) -> bool {
        false
    }

    /// Whether its request headers read what an earlier filter hands on (the consumer).
    /// With the two below, what `redis-chain` asks before it starts a filter's Redis work
    /// while an earlier filter's is still out; each answer errs towards waiting.
    fn reads_handed(&self) -> bool {
        true
    }

    /// Whether its request headers may hand on a consumer (and its upstream headers).
    fn hands_on(&self) -> bool {
        true
    }

    /// Whether its request headers change state (a count, a write) that must stay unchanged
    /// for a request an earlier filter refuses.
    fn changes_state(&self) -> bool {
        true
    }

    /// Whether it may end a request with its own response (a 401, a 429, a cached answer).
    fn refuses(&self) -> bool {
        true
    }
}

/// A `Feature` behind one object type, so `redis-chain` holds a sequence of different ones.
pub trait AnyFeature {
    fn name(&self) -> &'static str;
    fn tick_ms(&self) -> u32;
    fn on_tick(&self, root_id: u32);
    fn on_redis(&self, tag: u32, outcome: Outcome);
    fn request(&self, context_id: u32) -> Box<dyn HttpContext>;
    fn hand_over(&self) -> Option<Vec<u8>>;
    fn take_over(&self, work: &[u8]);
    fn holds_work(&self) -> bool;
    fn root_works(&self) -> bool;
    fn reads_handed(&self) -> bool;
    fn hands_on(&self) -> bool;
    fn changes_state(&self) -> bool;
    fn refuses(&self) -> bool;
}

impl<F: Feature> AnyFeature for Rc<F> {
    fn name(&self) -> &'static str {
        F::NAME
    }
    fn tick_ms(&self) -> u32 {
        F::tick_ms(self)
    }
    fn on_tick(&self, root_id: u32) {
        F::on_tick(self, root_id)
    }
    fn on_redis(&self, tag: u32, outcome: Outcome) {
        F::on_redis(self, tag, outcome)
    }
    fn request(&self, context_id: u32) -> Box<dyn HttpContext> {
        F::request(self, context_id)
    }
    fn hand_over(&self) -> Option<Vec<u8>> {
        F::hand_over(self)
    }
    fn take_over(&self, work: &[u8]) {
        F::take_over(self, work)
    }
    fn holds_work(&self) -> bool {
        F::holds_work(self)
    }
    fn root_works(&self) -> bool {
        F::root_works(self)
    }
    fn reads_handed(&self) -> bool {
        F::reads_handed(self)
    }
    fn hands_on(&self) -> bool {
        F::hands_on(self)
    }
    fn changes_state(&self) -> bool {
        F::changes_state(self)
    }
    fn refuses(&self) -> bool {
        F::refuses(self)
    }
}

/// Builds a feature from its raw config, as one object type.
pub type BuildAny = fn(u32, Rc<dyn FilterHost>, &[u8]) -> Result<Box<dyn AnyFeature>, String>;

/// `F`'s builder as a `BuildAny`.
pub fn build_any<F: Feature>(
    root_id: u32,
    host: Rc<dyn FilterHost>,
    raw: &[u8],
) -> Result<Box<dyn AnyFeature>, String> {
    F::build(root_id, host, raw).map(|f| Box::new(Rc::new(f)) as Box<dyn AnyFeature>)
}

/// The root context of a `Feature`.
pub struct FeatureRoot<F: Feature> {
    id: u32,
    host: Rc<dyn FilterHost>,
    filter: Option<Rc<F>>,
    /// The config was refused where refusing it would kill the worker (Kong's engine): the
    /// filter stays up and answers every request with Kong's 500.
    refused: bool,
}

impl<F: Feature> FeatureRoot<F> {
    pub fn new(id: u32) -> Self {
        Self::with_host(id, Rc::new(WasmFilterHost))
    }

    /// A root over a given host (unit tests use `MockHost`).
    pub fn with_host(id: u32, host: Rc<dyn FilterHost>) -> Self {
        Self {
            id,
            host,
            filter: None,
            refused: false,
        }
    }

    /// The filter built from the last config accepted.
    pub fn filter(&self) -> Option<&Rc<F>> {
        self.filter.as_ref()
    }
}

impl<F: Feature> RootContext for FeatureRoot<F> {
    fn on_configure(&mut self, config: Option<Vec<u8>>) -> bool {
        let raw = config.unwrap_or_else(|| b"{}".to_vec());
        let built = F::build(self.id, self.host.clone(), &raw);
        let tick = built.as_ref().map_or(0, F::tick_ms);
        root_config::configure(
            self.host.as_ref(),
            built,
            tick,
            &mut self.filter,
            &mut self.refused,
        )
    }

    fn on_tick(&mut self) {
        if let Some(filter) = &self.filter {
            F::on_tick(filter, self.id);
        }
    }

    fn on_redis(&mut self, tag: u32, outcome: Outcome) {
        if let Some(filter) = &self.filter {
            F::on_redis(filter, tag, outcome);
        }
    }

    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.refused {
            return Some(Box::new(RefusedConfig {
                filter: F::NAME,
                host: self.host.clone(),
            }));
        }
        self.filter.as_ref().map(|f| F::request(f, context_id))
    }

    fn hand_over(&mut self) -> Option<Vec<u8>> {
        self.filter.as_ref().and_then(|f| f.hand_over())
    }

    fn take_over(&mut self, work: &[u8]) {
        if let Some(filter) = &self.filter {
            F::take_over(filter, work);
        }
    }

    fn holds_work(&self) -> bool {
        self.filter.as_ref().is_some_and(|f| f.holds_work())
    }

    fn root_works(&self) -> bool {
        self.filter.as_ref().is_some_and(|f| f.root_works())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter_host::MockHost;
    use crate::proxy::Action;
    use std::cell::Cell;

    /// A feature whose config is `{"tick": N}`; it counts its ticks and lets requests through.
    struct Counting {
        tick: u32,
        ticks: Cell<u32>,
    }

    struct Pass;
    impl HttpContext for Pass {}

    impl Feature for Counting {
        const NAME: &'static str = "counting";
        fn build(_: u32, _: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
            let v: serde_json::Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
            let tick = v["tick"].as_u64().ok_or("tick: expected a number")?;
            Ok(Self {
                tick: tick as u32,
                ticks: Cell::new(0),
            })
        }
        fn tick_ms(&self) -> u32 {
            self.tick
        }
        fn on_tick(filter: &Rc<Self>, _: u32) {
            filter.ticks.set(filter.ticks.get() + 1);
        }
        fn request(_: &Rc<Self>, _: u32) -> Box<dyn HttpContext> {
            Box::new(Pass)
        }
    }

    fn root(fatal: bool) -> (FeatureRoot<Counting>, Rc<MockHost>) {
        let host = Rc::new(MockHost::default());
        host.fatal_refusal.set(fatal);
        (FeatureRoot::with_host(1, host.clone()), host)
    }

    #[test]
    fn a_config_built_sets_the_tick_and_serves_requests() {
        let (mut r, host) = root(false);
        assert!(r.on_configure(Some(br#"{"tick": 50}"#.to_vec())));
        assert_eq!(host.tick_ms.get(), 50);
        r.on_tick();
        assert_eq!(r.filter().map(|f| f.ticks.get()), Some(1));
        let mut ctx = r.create_http_context(2).unwrap();
        assert_eq!(ctx.on_request_headers(0, true), Action::Continue);
    }

    #[test]
    fn a_refused_config_is_refused_or_answered_with_500_where_refusing_is_fatal() {
        let (mut r, host) = root(false);
        assert!(!r.on_configure(Some(br#"{"tock": 5}"#.to_vec())));
        assert!(host.logs.borrow()[0].1.contains("tick"));
        assert!(r.create_http_context(2).is_none());
        let (mut r, host) = root(true);
        assert!(r.on_configure(None));
        assert!(host.logs.borrow()[0].1.contains("every request gets 500"));
        let mut ctx = r.create_http_context(3).unwrap();
        assert_eq!(ctx.on_request_headers(0, true), Action::Pause);
        let local = host.local_response.borrow();
        assert_eq!(local.as_ref().map(|l| l.0), Some(500));
    }
}
