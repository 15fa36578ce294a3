//! A filter's place in the chain, carried in the high bits of its Redis work's tags, and the hold
//! that sends what the chain's filters submit in one callback together.

use redis_filter_core::proxy;

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
