//! The filter's config: Kong's rate-limiting `config`, field for field, plus the extensions
//! `window_type` (Rate Limiting Advanced's sliding window), `route_id` / `service_id` (the
//! plugin's scope, for Redis keys shared with Kong's Lua plugin).

use crate::periods::Period;
use redis_filter_core::{ConfigError, Fields, RedisConfig};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitBy {
    Consumer,
    Credential,
    Ip,
    Service,
    Header,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Local,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    Fixed,
    Sliding,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The configured limits, shortest period first.
    pub limits: Vec<(Period, u64)>,
    pub limit_by: LimitBy,
    pub header_name: Option<String>,
    pub path: Option<String>,
    pub policy: Policy,
    pub fault_tolerant: bool,
    pub hide_client_headers: bool,
    pub error_code: u32,
    pub error_message: String,
    /// Seconds between syncs with Redis; `None` is Kong's -1 (every request, realtime).
    pub sync_rate: Option<f64>,
    pub window_type: WindowType,
    pub route_id: Option<String>,
    pub service_id: Option<String>,
    pub redis: RedisConfig,
}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        let config = redis_filter_core::config::read_filter_config(json, Self::read)?;
        if config.limits.is_empty() {
            return Err(ConfigError::new(
                "",
                "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
            ));
        }
        Ok(config)
    }

    fn read(top: &mut Fields) -> Result<Self, ConfigError> {
        let mut limits = Vec::new();
        for period in Period::ALL {
            if let Some(n) = top.positive(period.name())? {
                // Kong stores a number; a fractional limit behaves as its floor.
                limits.push((period, n.floor() as u64));
            }
        }
        for pair in limits.windows(2) {
            if let [(shorter, low), (longer, high)] = pair {
                if high < low {
                    return Err(top.error(
                        longer.name(),
                        format!(
                            "The limit for {}({high}) cannot be lower than the limit for {}({low})",
                            longer.name(),
                            shorter.name()
                        ),
                    ));
                }
            }
        }
        let limit_by = match top.one_of(
            "limit_by",
            &["consumer", "credential", "ip", "service", "header", "path"],
        )? {
            Some("credential") => LimitBy::Credential,
            Some("ip") => LimitBy::Ip,
            Some("service") => LimitBy::Service,
            Some("header") => LimitBy::Header,
            Some("path") => LimitBy::Path,
            _ => LimitBy::Consumer,
        };
        let header_name = top.str("header_name")?.map(str::to_string);
        let path = top.str("path")?.map(str::to_string);
        if limit_by == LimitBy::Header && header_name.as_deref().unwrap_or("").is_empty() {
            return Err(top.error("header_name", "required field missing (limit_by is header)"));
        }
        if limit_by == LimitBy::Path && path.as_deref().unwrap_or("").is_empty() {
            return Err(top.error("path", "required field missing (limit_by is path)"));
        }
        let policy = match top.one_of("policy", &["local", "cluster", "redis"])? {
            Some("cluster") => {
                return Err(top.error(
                    "policy",
                    "'cluster' needs Kong's database, which a filter cannot reach: use 'redis' (shared by every gateway) or 'local'",
                ))
            }
            Some("redis") => Policy::Redis,
            _ => Policy::Local,
        };
        let sync_rate = match top.number("sync_rate")? {
            None => None,
            Some(-1.0) => None,
            Some(r) if policy != Policy::Redis => {
                return Err(top.error(
                    "sync_rate",
                    format!("sync_rate {r} needs policy 'redis' (only -1 works with 'local')"),
                ))
            }
            Some(r) if r < 0.02 => {
                return Err(top.error("sync_rate", "value must be -1 or at least 0.02"))
            }
            Some(r) => Some(r),
        };
        let error_code = top.int("error_code", 100, 599)?.unwrap_or(429) as u32;
        let error_message = top
            .str("error_message")?
            .unwrap_or("API rate limit exceeded")
            .to_string();
        let window_type = match top.one_of("window_type", &["fixed", "sliding"])? {
            Some("sliding") => WindowType::Sliding,
            _ => WindowType::Fixed,
        };
        let redis = RedisConfig::from_plugin_config(top)?;
        Ok(Self {
            limits,
            limit_by,
            header_name,
            path,
            policy,
            fault_tolerant: top.bool("fault_tolerant")?.unwrap_or(true),
            hide_client_headers: top.bool("hide_client_headers")?.unwrap_or(false),
            error_code,
            error_message,
            sync_rate,
            window_type,
            route_id: top.str("route_id")?.map(str::to_string),
            service_id: top.str("service_id")?.map(str::to_string),
            redis,
        })
    }
}

/// Kong's `config_schema` for this filter (kong/redis-rate-limiting.meta.json), drawn from the
/// parser above: every field it reads, with what it accepts (see `config::schema`).
pub fn kong_schema() -> Value {
    use redis_filter_core::config::{guide_aliases, schema};
    use serde_json::json;
    let mut recorded = schema::record(|| {
        // Configs that take the parser down each branch (standalone, Sentinel, Cluster).
        for example in [
            json!({"minute": 1, "policy": "redis", "sync_rate": 1}),
            json!({"minute": 1, "redis": {"sentinel_master": "m", "sentinel_role": "master",
                "sentinel_nodes": [{"host": "h", "port": 1}]}}),
            json!({"minute": 1, "redis": {"cluster_nodes": [{"ip": "h", "port": 1}]}}),
        ] {
            let _ = Config::parse(example.to_string().as_bytes());
        }
    });
    for (flat, field) in guide_aliases::MOVES {
        recorded.alias(flat, &format!("redis.{field}"));
    }
    let mut config = recorded.to_schema();
    if let Some(top) = config.as_object_mut() {
        // The parser's own check: at least one period.
        let any: Vec<Value> = Period::ALL
            .iter()
            .map(|p| json!({"required": [p.name()]}))
            .collect();
        top.insert("anyOf".into(), Value::Array(any));
    }
    // `cluster` is read only to be refused with a reason; Kong refuses it at the Admin API.
    if let Some(Value::Array(choices)) = config.pointer_mut("/properties/policy/enum") {
        choices.retain(|c| c != "cluster");
    }
    json!({ "config_schema": config })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kong/redis-rate-limiting.meta.json is generated: `UPDATE_META_JSON=1 cargo test -p
    /// redis-rate-limiting meta_json` writes it again after a config change.
    #[test]
    fn meta_json_is_the_parsers_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-rate-limiting.meta.json"
        );
        let checked = redis_filter_core::config::schema::check_meta_json(
            path,
            &kong_schema(),
            "redis-rate-limiting",
        );
        assert_eq!(checked, Ok(()));
    }

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s.as_bytes())
    }

    #[test]
    fn kong_defaults() {
        let c = parse(r#"{"minute": 5}"#).unwrap();
        assert_eq!(c.limits, vec![(Period::Minute, 5)]);
        assert_eq!(c.limit_by, LimitBy::Consumer);
        assert_eq!(c.policy, Policy::Local);
        assert!(c.fault_tolerant);
        assert!(!c.hide_client_headers);
        assert_eq!(c.error_code, 429);
        assert_eq!(c.error_message, "API rate limit exceeded");
        assert_eq!(c.sync_rate, None);
        assert_eq!(c.window_type, WindowType::Fixed);
    }

    #[test]
    fn the_integration_guide_config_with_flat_redis_fields() {
        let c = parse(
            r#"{"minute": 100, "policy": "redis", "redis_host": "127.0.0.1", "redis_port": 6379,
               "redis_password": "your_redis_password", "redis_database": 0}"#,
        )
        .unwrap();
        assert_eq!(c.policy, Policy::Redis);
        assert_eq!(c.redis.password.as_deref(), Some("your_redis_password"));
        // Scenario 1 of the guide: no host at all.
        assert!(parse(r#"{"minute": 60, "policy": "redis"}"#).is_ok());
    }

    #[test]
    fn needs_a_limit_and_longer_periods_may_not_be_lower() {
        assert!(parse(r#"{"policy": "local"}"#)
            .unwrap_err()
            .message
            .contains("at least one"));
        let e = parse(r#"{"minute": 20, "hour": 10}"#).unwrap_err();
        assert_eq!(e.field, "hour");
        assert_eq!(
            e.message,
            "The limit for hour(10) cannot be lower than the limit for minute(20)"
        );
        assert_eq!(parse(r#"{"second": 0}"#).unwrap_err().field, "second");
    }

    #[test]
    fn cluster_policy_is_refused_with_a_reason() {
        let e = parse(r#"{"minute": 1, "policy": "cluster"}"#).unwrap_err();
        assert_eq!(e.field, "policy");
        assert!(e.message.contains("use 'redis'"));
    }

    #[test]
    fn header_and_path_need_their_field() {
        assert_eq!(
            parse(r#"{"minute": 1, "limit_by": "header"}"#)
                .unwrap_err()
                .field,
            "header_name"
        );
        assert_eq!(
            parse(r#"{"minute": 1, "limit_by": "path"}"#)
                .unwrap_err()
                .field,
            "path"
        );
        assert!(parse(r#"{"minute": 1, "limit_by": "header", "header_name": "x-api"}"#).is_ok());
    }

    #[test]
    fn sync_rate_rules() {
        assert_eq!(
            parse(r#"{"minute": 1, "policy": "redis", "sync_rate": 0.5}"#)
                .unwrap()
                .sync_rate,
            Some(0.5)
        );
        assert_eq!(
            parse(r#"{"minute": 1, "policy": "redis", "sync_rate": -1}"#)
                .unwrap()
                .sync_rate,
            None
        );
        assert_eq!(
            parse(r#"{"minute": 1, "sync_rate": 1}"#).unwrap_err().field,
            "sync_rate"
        );
        assert_eq!(
            parse(r#"{"minute": 1, "policy": "redis", "sync_rate": 0.01}"#)
                .unwrap_err()
                .field,
            "sync_rate"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_name_the_field() {
        assert_eq!(
            parse(r#"{"minute": 1, "minutes": 2}"#).unwrap_err().field,
            "minutes"
        );
        // A misspelt period alone is named as unknown, not reported as "no limit".
        let e = parse(r#"{"minutes": 5}"#).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("minutes", "unknown field (did you mean 'minute'?)")
        );
        assert_eq!(
            parse(r#"{"minute": "5"}"#).unwrap_err().to_string(),
            "invalid config: minute: expected a number"
        );
        assert_eq!(
            parse(r#"{"minute": 1, "redis": {"port": 99999}}"#)
                .unwrap_err()
                .field,
            "redis.port"
        );
        assert!(parse("not json").is_err());
    }

    #[test]
    fn extensions() {
        let c =
            parse(r#"{"minute": 1, "window_type": "sliding", "route_id": "r", "service_id": "s"}"#)
                .unwrap();
        assert_eq!(c.window_type, WindowType::Sliding);
        assert_eq!(
            (c.route_id.as_deref(), c.service_id.as_deref()),
            (Some("r"), Some("s"))
        );
    }
}
