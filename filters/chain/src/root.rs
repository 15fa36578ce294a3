//! The chain as a `Feature`: its filters built from their configs over the chain's host, one
//! tick for all of them, and the answers to their roots' Redis work routed by the filter's
//! place carried in the tag (`tags`).

use crate::chain::Chain;
use crate::config;
use crate::request::ChainRequest;
use crate::tags::{as_part, split, Hold};
use redis_filter_core::filter_host::{FilterHost, LogLevel};
use redis_filter_core::proxy::{pairs, Feature, HttpContext};
use redis_filter_core::Outcome;
use std::rc::Rc;

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

    /// Each filter's work, under its place in the chain.
    fn hand_over(&self) -> Option<Vec<u8>> {
        let work: Vec<(String, Vec<u8>)> = self
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| Some((i.to_string(), part.hand_over()?)))
            .collect();
        (!work.is_empty()).then(|| pairs::encode(&work))
    }

    fn take_over(chain: &Rc<Self>, work: &[u8]) {
        for (place, work) in pairs::decode(work).unwrap_or_default() {
            let part = place.parse::<usize>().ok().and_then(|i| chain.parts.get(i));
            if let Some(part) = part {
                part.take_over(&work);
            }
        }
    }

    fn holds_work(&self) -> bool {
        self.parts.iter().any(|p| p.holds_work())
    }

    fn root_works(&self) -> bool {
        self.parts.iter().any(|p| p.root_works())
    }

    fn request(chain: &Rc<Self>, context_id: u32) -> Box<dyn HttpContext> {
        Box::new(ChainRequest::new(context_id, chain.clone()))
    }
}
