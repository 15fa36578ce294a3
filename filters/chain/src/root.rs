//! The chain as a `Feature`: its filters built from their configs over the chain's host, one
//! tick for all of them, and the answers to their roots' Redis work routed by the filter's
//! place carried in the tag.

use crate::config;
use crate::host::{ChainHost, Turn};
use crate::request::ChainRequest;
use redis_filter_core::filter_host::{FilterHost, LogLevel};
use redis_filter_core::proxy::{self, AnyFeature, Feature, HttpContext};
use redis_filter_core::Outcome;
use std::rc::Rc;

/// The chain: its filters, in order.
pub struct Chain {
    pub(crate) parts: Vec<Box<dyn AnyFeature>>,
    pub(crate) host: Rc<dyn FilterHost>,
    pub(crate) turn: Rc<Turn>,
}

impl Chain {
    /// A chain of filters built already (the unit tests' fakes).
    pub fn of(parts: Vec<Box<dyn AnyFeature>>, host: Rc<dyn FilterHost>, turn: Rc<Turn>) -> Self {
        Self { parts, host, turn }
    }

    /// The host the chain's filters are built over, and the turn it shares with them.
    pub fn host_for_parts(host: Rc<dyn FilterHost>) -> (Rc<dyn FilterHost>, Rc<Turn>) {
        let turn = Rc::new(Turn::default());
        let chain_host = ChainHost {
            inner: host,
            turn: turn.clone(),
        };
        (Rc::new(chain_host), turn)
    }
}

/// Runs `f` as the chain's filter number `index` (its Redis work tagged with that place).
pub(crate) fn as_part<T>(index: usize, f: impl FnOnce() -> T) -> T {
    proxy::set_tag_base(index as u32 + 1);
    let result = f();
    proxy::set_tag_base(0);
    result
}

/// A tag as the chain's filter it is for, and that filter's own tag.
pub(crate) fn split(tag: u32) -> Option<(usize, u32)> {
    let place = (tag >> proxy::TAG_SHIFT) as usize;
    Some((place.checked_sub(1)?, tag & ((1 << proxy::TAG_SHIFT) - 1)))
}

/// Holds the Redis calls back for a callback's span: what the chain's filters submit in it
/// leaves together when this goes.
pub(crate) struct Hold {
    _calls: proxy::HeldCalls,
}

impl Hold {
    pub fn new() -> Self {
        Hold {
            _calls: proxy::hold_calls(),
        }
    }
}

impl Feature for Chain {
    const NAME: &'static str = crate::NAME;

    fn build(root_id: u32, host: Rc<dyn FilterHost>, raw: &[u8]) -> Result<Self, String> {
        let entries = config::parse(raw)?;
        let (parts_host, turn) = Self::host_for_parts(host.clone());
        let mut parts = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let part = (entry.known.build)(root_id, parts_host.clone(), &entry.raw)
                .map_err(|e| config::at(i, &e))?;
            parts.push(part);
        }
        Ok(Self { parts, host, turn })
    }

    /// The shortest period any of its filters asks for: each is woken at least as often.
    fn tick_ms(&self) -> u32 {
        self.parts
            .iter()
            .map(|p| p.tick_ms())
            .filter(|ms| *ms > 0)
            .min()
            .unwrap_or(0)
    }

    fn on_tick(chain: &Rc<Self>, root_id: u32) {
        let _hold = Hold::new();
        for (i, part) in chain.parts.iter().enumerate() {
            chain.turn.enter(root_id, i, i, false);
            as_part(i, || part.on_tick(root_id));
        }
    }

    fn on_redis(chain: &Rc<Self>, tag: u32, outcome: Outcome) {
        let Some((i, tag)) = split(tag) else {
            chain
                .host
                .log(LogLevel::Debug, "redis-chain: an answer for no filter");
            return;
        };
        let Some(part) = chain.parts.get(i) else {
            return;
        };
        let _hold = Hold::new();
        chain.turn.enter(0, i, i, false);
        as_part(i, || part.on_redis(tag, outcome));
    }

    fn request(chain: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(ChainRequest::new(context_id, chain.clone()))
    }
}
