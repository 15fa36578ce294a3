//! The filter's config: the integration guide's `jwt-blacklist` (`storage: redis`, the flat
//! `redis_*` names or the shared `redis` block), where the token is found (Kong jwt's three
//! lists), and the revocation endpoints.

use redis_filter_core::jwt::Places;
use redis_filter_core::{ConfigError, Fields, RedisConfig};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub places: Places,
    /// Put in front of the token's id in Redis.
    pub key_prefix: String,
    /// `<method> <path>`: revokes the token the request presents.
    pub revoke_method: String,
    pub revoke_path: Option<String>,
    /// `<method> <path>/<jti>` with the secret: revokes by `jti` (operators).
    pub admin_path: Option<String>,
    pub admin_secret: Option<String>,
    pub admin_ttl: u64,
    /// Redis unreachable: let requests through (true) or answer 503 (false, the default).
    pub fault_tolerant: bool,
    pub redis: RedisConfig,
}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        redis_filter_core::config::read_filter_config(json, Self::read)
    }

    fn read(top: &mut Fields) -> Result<Self, ConfigError> {
        top.one_of("storage", &["redis"])?;
        let places = Places::read(top)?;
        let admin_path = top
            .str("admin_path")?
            .map(|p| p.trim_end_matches('/').to_string());
        let admin_secret = top.str("admin_secret")?.map(str::to_string);
        if admin_path.is_some() && admin_secret.as_deref().unwrap_or("").len() < 16 {
            return Err(top.error(
                "admin_secret",
                "required with admin_path, at least 16 characters",
            ));
        }
        let redis = RedisConfig::from_plugin_config(top)?;
        Ok(Self {
            places,
            key_prefix: top
                .str("key_prefix")?
                .unwrap_or("jwt_blacklist:")
                .to_string(),
            revoke_method: top.str("revoke_method")?.unwrap_or("POST").to_string(),
            revoke_path: top.str("revoke_path")?.map(str::to_string),
            admin_path,
            admin_secret,
            admin_ttl: top
                .int("admin_ttl", 1, i64::from(u32::MAX))?
                .unwrap_or(86_400) as u64,
            fault_tolerant: top.bool("fault_tolerant")?.unwrap_or(false),
            redis,
        })
    }
}

/// Kong's `config_schema` for this filter (kong/redis-jwt-blacklist.meta.json).
pub fn kong_schema() -> Value {
    use redis_filter_core::config::{guide_aliases, schema};
    use serde_json::json;
    let mut recorded = schema::record(|| {
        for example in [
            json!({"storage": "redis", "admin_path": "/revoked", "admin_secret": "0123456789abcdef"}),
            json!({"redis": {"sentinel_master": "m", "sentinel_role": "master",
                "sentinel_nodes": [{"host": "h", "port": 1}]}}),
            json!({"redis": {"cluster_nodes": [{"ip": "h", "port": 1}]}}),
        ] {
            let _ = Config::parse(example.to_string().as_bytes());
        }
    });
    for (flat, field) in guide_aliases::MOVES {
        recorded.alias(flat, &format!("redis.{field}"));
    }
    json!({ "config_schema": recorded.to_schema() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_config_as_written() {
        let c = Config::parse(
            br#"{"storage": "redis", "redis_host": "127.0.0.1", "redis_port": 6379}"#,
        )
        .unwrap();
        assert_eq!(c.key_prefix, "jwt_blacklist:");
        assert!(!c.fault_tolerant);
        let e = Config::parse(br#"{"admin_path": "/x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin_secret"), "{e}");
        let e = Config::parse(br#"{"storage": "memory"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage: expected one of: redis"), "{e}");
    }

    #[test]
    fn meta_json_is_the_parsers_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-jwt-blacklist.meta.json"
        );
        let checked = redis_filter_core::config::schema::check_meta_json(
            path,
            &kong_schema(),
            "redis-jwt-blacklist",
        );
        assert_eq!(checked, Ok(()));
    }
}
