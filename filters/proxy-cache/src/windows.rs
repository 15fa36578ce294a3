//! How long past its freshness an entry may be served (`stale-while-revalidate`,
//! `stale-if-error`): what an entry keeps and what the stale rules read, below both.

use crate::cache_control::Directives;
use crate::config::Config;

/// How long past its freshness an entry may still be served: while a fresh one is fetched
/// (`while_revalidate`), and when the upstream fails (`if_error`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    pub while_revalidate: u64,
    pub if_error: u64,
}

impl Windows {
    /// A response's windows: its own directives (with `cache_control`), else the config's.
    pub fn of_response(config: &Config, cc: &Directives) -> Self {
        let directive = |name: &str| {
            config
                .cache_control
                .then(|| cc.number(name))
                .flatten()
                .map(|n| n.max(0.0) as u64)
        };
        Self {
            while_revalidate: directive("stale-while-revalidate")
                .unwrap_or(config.stale_while_revalidate),
            if_error: directive("stale-if-error").unwrap_or(config.stale_if_error),
        }
    }

    /// How much longer than its freshness the entry must stay in storage.
    pub fn longest(self) -> u64 {
        self.while_revalidate.max(self.if_error)
    }
}
