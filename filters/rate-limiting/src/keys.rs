//! Counter keys, byte for byte Kong's: `ratelimit:<route_id>:<service_id>:<identifier>:
//! <period_start_ms>:<period>`, with the plugin's own scope ids (all-zero UUID when unscoped).

use crate::periods::Period;

pub const EMPTY_UUID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub route_id: String,
    pub service_id: String,
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            route_id: EMPTY_UUID.into(),
            service_id: EMPTY_UUID.into(),
        }
    }
}

pub fn key(scope: &Scope, identifier: &str, period: Period, period_start_ms: u64) -> String {
    let mut key = String::with_capacity(
        "ratelimit::::::".len()
            + scope.route_id.len()
            + scope.service_id.len()
            + identifier.len()
            + 20
            + period.name().len(),
    );
    for part in [
        "ratelimit:",
        &scope.route_id,
        ":",
        &scope.service_id,
        ":",
        identifier,
        ":",
    ] {
        key.push_str(part);
    }
    redis_filter_core::decimal::push(&mut key, period_start_ms);
    key.push(':');
    key.push_str(period.name());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kongs_format() {
        let k = key(
            &Scope::default(),
            "127.0.0.1",
            Period::Minute,
            1_709_214_300_000,
        );
        assert_eq!(
            k,
            "ratelimit:00000000-0000-0000-0000-000000000000:00000000-0000-0000-0000-000000000000:127.0.0.1:1709214300000:minute"
        );
    }
}
