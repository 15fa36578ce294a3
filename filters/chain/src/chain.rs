//! The chain itself: its filters, in order, the real host and the turn it shares with the host
//! its filters see. Below the request and the root, which both work on it.

use crate::host::{ChainHost, Turn};
use redis_filter_core::filter_host::FilterHost;
use redis_filter_core::proxy::AnyFeature;
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
