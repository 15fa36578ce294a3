//! The integration guide's names: it sets Sentinel, Cluster and the phase timeouts with
//! `redis_sentinel_master`, `redis_sentinel_role`, `redis_sentinel_addresses`,
//! `redis_cluster_addresses`, `redis_connect_timeout` ("in kong.conf"). kong.conf cannot carry a
//! plugin's Redis settings, so a filter accepts them at the top level of its config, like the
//! other flat `redis_*` aliases, and moves them into the `redis` block before reading it. An
//! address list may be one comma-separated string, as kong.conf writes lists.

use super::ConfigError;
use serde_json::{Map, Value};

pub const MOVES: &[(&str, &str)] = &[
    ("redis_sentinel_master", "sentinel_master"),
    ("redis_sentinel_role", "sentinel_role"),
    ("redis_sentinel_addresses", "sentinel_addresses"),
    ("redis_sentinel_username", "sentinel_username"),
    ("redis_sentinel_password", "sentinel_password"),
    ("redis_cluster_addresses", "cluster_addresses"),
    ("redis_cluster_max_redirections", "cluster_max_redirections"),
    ("redis_connect_timeout", "connect_timeout"),
    ("redis_send_timeout", "send_timeout"),
    ("redis_read_timeout", "read_timeout"),
];

/// Moves the guide's top-level names into `redis`; the same field given both ways with different
/// values is refused.
pub fn hoist(config: &mut Value) -> Result<(), ConfigError> {
    let Some(top) = config.as_object_mut() else {
        return Ok(());
    };
    for (flat, field) in MOVES {
        let Some(mut value) = top.remove(*flat) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        if field.ends_with("_addresses") {
            if let Value::String(list) = &value {
                value = list
                    .split(',')
                    .map(|a| Value::String(a.trim().to_string()))
                    .collect();
            }
        }
        let block = top
            .entry("redis")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(block) = block.as_object_mut() else {
            return Err(ConfigError::new("redis", "expected a record"));
        };
        match block.get(*field) {
            Some(existing) if !existing.is_null() && *existing != value => {
                return Err(ConfigError::new(
                    *flat,
                    format!("conflicts with redis.{field}: give only one of them"),
                ));
            }
            _ => {
                block.insert((*field).to_string(), value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeAddr, RedisMode};
    use crate::{Fields, RedisConfig};
    use serde_json::json;

    fn parse(mut v: Value) -> Result<RedisConfig, ConfigError> {
        hoist(&mut v)?;
        let mut top = Fields::new("", &v)?;
        RedisConfig::from_plugin_config(&mut top)
    }

    #[test]
    fn the_guides_sentinel_lines() {
        let c = parse(json!({
            "redis_sentinel_master": "mymaster",
            "redis_sentinel_role": "master",
            "redis_sentinel_addresses": "127.0.0.1:26379,127.0.0.1:26380, 127.0.0.1:26381",
        }))
        .unwrap();
        let RedisMode::Sentinel { master, nodes, .. } = c.mode else {
            panic!("{:?}", c.mode)
        };
        assert_eq!(master, "mymaster");
        assert_eq!(nodes[2], NodeAddr::new("127.0.0.1", 26381));
    }

    #[test]
    fn the_guides_cluster_and_timeout_lines() {
        let c = parse(json!({
            "redis_cluster_addresses": ["127.0.0.1:7001", "127.0.0.1:7002"],
            "redis_timeout": 2000,
            "redis_connect_timeout": 1000,
        }))
        .unwrap();
        assert!(c.is_cluster());
        assert_eq!(c.connect_timeout_ms, 1000);
        assert_eq!(c.read_timeout_ms, 2000);
    }

    #[test]
    fn both_ways_with_different_values_is_refused() {
        let e = parse(json!({
            "redis_connect_timeout": 1000,
            "redis": {"connect_timeout": 500},
        }))
        .unwrap_err();
        assert!(e.to_string().contains("redis_connect_timeout"), "{e}");
    }
}
