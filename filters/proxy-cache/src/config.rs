//! The filter's config: Kong's proxy-cache `config` field for field, with proxy-cache-advanced's
//! `strategy: redis`, `bypass_on_err` and `redis` block (and the guide's flat `redis_*` names),
//! plus what this filter adds beyond Kong (each documented in the README): `max_body_size`,
//! `cache_authorized_requests`, `cache_set_cookie_responses`, `purge`, `route_id`.

use redis_filter_core::{ConfigError, Fields, RedisConfig};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The host's shared data (Kong's `memory`, per gateway node).
    Memory,
    Redis,
}

/// Which of Kong's response headers the filter writes (`response_headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeaders {
    pub age: bool,
    pub status: bool,
    pub key: bool,
}

/// A purge endpoint: `<method> <path>/<cache key>` with `<secret_header>: <secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    pub method: String,
    pub path: String,
    pub secret: String,
    pub secret_header: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub response_code: Vec<u32>,
    pub request_method: Vec<&'static str>,
    pub content_type: Vec<String>,
    pub cache_ttl: u64,
    pub strategy: Strategy,
    pub cache_control: bool,
    pub ignore_uri_case: bool,
    pub storage_ttl: Option<u64>,
    pub vary_query_params: Vec<String>,
    pub vary_headers: Vec<String>,
    pub response_headers: ResponseHeaders,
    pub bypass_on_err: bool,
    pub max_body_size: usize,
    pub cache_authorized_requests: bool,
    pub cache_set_cookie_responses: bool,
    pub purge: Option<Purge>,
    pub route_id: Option<String>,
    /// Milliseconds a request waits for another one fetching the same cold entry (0: off).
    pub coalesce_timeout: u64,
    /// RFC 5861 windows (seconds) for responses that do not give their own.
    pub stale_while_revalidate: u64,
    pub stale_if_error: u64,
    pub redis: RedisConfig,
}

pub const METHODS: &[&str] = &["HEAD", "GET", "POST", "PATCH", "PUT"];
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

impl Config {
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        redis_filter_core::config::read_filter_config(json, Self::read)
    }

    fn read(top: &mut Fields) -> Result<Self, ConfigError> {
        let response_code = match top.ints("response_code", 100, 900)? {
            Some(codes) if codes.is_empty() => {
                return Err(top.error("response_code", "length must be at least 1"))
            }
            Some(codes) => codes.into_iter().map(|c| c as u32).collect(),
            None => vec![200, 301, 404],
        };
        let request_method = top
            .each_one_of("request_method", METHODS)?
            .unwrap_or_else(|| vec!["GET", "HEAD"]);
        let content_type = match top.strings("content_type")? {
            Some(types) => types.into_iter().map(str::to_string).collect(),
            None => vec!["text/plain".into(), "application/json".into()],
        };
        let cache_ttl = top.int("cache_ttl", 1, i64::from(u32::MAX))?.unwrap_or(300) as u64;
        let strategy = match top.one_of("strategy", &["memory", "redis"])? {
            Some("memory") => Strategy::Memory,
            Some(_) => Strategy::Redis,
            None => return Err(top.error("strategy", "required field missing")),
        };
        let storage_ttl = top
            .int("storage_ttl", 0, i64::from(u32::MAX))?
            .map(|t| t as u64);
        if let Some(mut memory) = top.record("memory")? {
            // Kong's shared dict name: here the host's shared data plays its part.
            memory.str("dictionary_name")?;
            memory.finish()?;
        }
        let owned = |v: Option<Vec<&str>>| -> Vec<String> {
            v.unwrap_or_default()
                .into_iter()
                .map(str::to_string)
                .collect()
        };
        let vary_query_params = owned(top.strings("vary_query_params")?);
        let vary_headers = owned(top.strings("vary_headers")?);
        let response_headers = Self::response_headers(top)?;
        let max_body_size = top
            .int("max_body_size", 1, i64::from(u32::MAX))?
            .map_or(DEFAULT_MAX_BODY, |n| n as usize);
        let purge = Self::purge(top)?;
        let coalesce_timeout = top.int("coalesce_timeout", 0, 60_000)?.unwrap_or(1000) as u64;
        let stale_while_revalidate = top
            .int("stale_while_revalidate", 0, i64::from(u32::MAX))?
            .unwrap_or(0) as u64;
        let stale_if_error = top
            .int("stale_if_error", 0, i64::from(u32::MAX))?
            .unwrap_or(0) as u64;
        let redis = RedisConfig::from_plugin_config(top)?;
        Ok(Self {
            response_code,
            request_method,
            content_type,
            cache_ttl,
            strategy,
            cache_control: top.bool("cache_control")?.unwrap_or(false),
            ignore_uri_case: top.bool("ignore_uri_case")?.unwrap_or(false),
            storage_ttl,
            vary_query_params,
            vary_headers,
            response_headers,
            bypass_on_err: top.bool("bypass_on_err")?.unwrap_or(false),
            max_body_size,
            cache_authorized_requests: top.bool("cache_authorized_requests")?.unwrap_or(false),
            cache_set_cookie_responses: top.bool("cache_set_cookie_responses")?.unwrap_or(false),
            purge,
            route_id: top.str("route_id")?.map(str::to_string),
            coalesce_timeout,
            stale_while_revalidate,
            stale_if_error,
            redis,
        })
    }

    fn response_headers(top: &mut Fields) -> Result<ResponseHeaders, ConfigError> {
        let mut headers = ResponseHeaders {
            age: true,
            status: true,
            key: true,
        };
        if let Some(mut record) = top.record("response_headers")? {
            headers.age = record.bool("age")?.unwrap_or(true);
            headers.status = record.bool("X-Cache-Status")?.unwrap_or(true);
            headers.key = record.bool("X-Cache-Key")?.unwrap_or(true);
            record.finish()?;
        }
        Ok(headers)
    }

    fn purge(top: &mut Fields) -> Result<Option<Purge>, ConfigError> {
        let Some(mut record) = top.record("purge")? else {
            return Ok(None);
        };
        let method = record.str("method")?.unwrap_or("DELETE").to_string();
        let path = record.str("path")?.unwrap_or("/proxy-cache");
        let path = path.trim_end_matches('/').to_string();
        let secret = record.str("secret")?.unwrap_or("").to_string();
        let secret_header = record
            .str("secret_header")?
            .unwrap_or("X-Cache-Purge-Secret")
            .to_string();
        if secret.len() < 16 {
            return Err(record.error("secret", "required, at least 16 characters"));
        }
        if !path.starts_with('/') {
            return Err(record.error("path", "must start with '/'"));
        }
        record.finish()?;
        Ok(Some(Purge {
            method,
            path,
            secret,
            secret_header,
        }))
    }

    /// How long a request waits for another fetching the same cold entry: `coalesce_timeout`,
    /// kept 250 ms inside the Redis timeout (the wait is one Redis call); None when off or with
    /// `memory`.
    pub fn coalesce_wait_ms(&self) -> Option<u64> {
        if self.strategy == Strategy::Memory {
            return None;
        }
        let room = u64::from(self.redis.call_timeout_ms()).saturating_sub(250);
        Some(self.coalesce_timeout.min(room)).filter(|ms| *ms > 0)
    }

    /// How many whole seconds a waiter blocks in Redis where it waits with one blocking call
    /// (Kong's engine): `BRPOPLPUSH` takes whole seconds in Redis 5.0 (a fraction only from
    /// 6.0), so `coalesce_wait_ms` rounded up, but never past the Redis timeout less 250 ms
    /// (the call would time out first and the waiter get an error): 1,000 ms waits 1 s, 1,500
    /// ms waits 2 s with a Redis timeout of 2,250 ms or more and 1 s with Kong's 2,000. A
    /// waiter is woken the moment the fetcher is done, so the rounding only lengthens a wait
    /// for a fetcher that never answers. None when the Redis timeout leaves no whole second
    /// (under 1,250 ms): a waiter then goes upstream at once (`Miss`).
    pub fn blocking_wait_s(&self) -> Option<u64> {
        let ms = self.coalesce_wait_ms()?;
        let room_s = u64::from(self.redis.call_timeout_ms()).saturating_sub(250) / 1000;
        Some(ms.div_ceil(1000).min(room_s)).filter(|s| *s > 0)
    }

    /// Seconds an entry is kept in storage (Kong: `storage_ttl`, else the response's TTL with
    /// `cache_control`, else `cache_ttl`).
    pub fn storage_ttl(&self, response_ttl: u64) -> u64 {
        self.storage_ttl.unwrap_or(if self.cache_control {
            response_ttl
        } else {
            self.cache_ttl
        })
    }
}

/// Kong's `config_schema` for this filter (kong/redis-proxy-cache.meta.json), drawn from the
/// parser above (see `redis_filter_core::config::schema`).
pub fn kong_schema() -> Value {
    use redis_filter_core::config::{guide_aliases, schema};
    use serde_json::json;
    let mut recorded = schema::record(|| {
        for example in [
            json!({"strategy": "redis", "memory": {"dictionary_name": "d"},
                "response_headers": {"age": true},
                "purge": {"secret": "0123456789abcdef"}}),
            json!({"strategy": "redis", "redis": {"sentinel_master": "m", "sentinel_role": "master",
                "sentinel_nodes": [{"host": "h", "port": 1}]}}),
            json!({"strategy": "redis", "redis": {"cluster_nodes": [{"ip": "h", "port": 1}]}}),
        ] {
            let _ = Config::parse(example.to_string().as_bytes());
        }
    });
    for (flat, field) in guide_aliases::MOVES {
        recorded.alias(flat, &format!("redis.{field}"));
    }
    let mut config = recorded.to_schema();
    if let Some(top) = config.as_object_mut() {
        top.insert("required".into(), json!(["strategy"]));
    }
    json!({ "config_schema": config })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s.as_bytes())
    }

    #[test]
    fn kongs_defaults() {
        let c = parse(r#"{"strategy": "redis"}"#).unwrap();
        assert_eq!(c.response_code, vec![200, 301, 404]);
        assert_eq!(c.request_method, vec!["GET", "HEAD"]);
        assert_eq!(c.content_type, vec!["text/plain", "application/json"]);
        assert_eq!(c.cache_ttl, 300);
        assert!(!c.cache_control && !c.ignore_uri_case && !c.bypass_on_err);
        assert_eq!(c.storage_ttl, None);
        assert_eq!(
            c.response_headers,
            ResponseHeaders {
                age: true,
                status: true,
                key: true
            }
        );
        assert_eq!(c.max_body_size, 1024 * 1024);
        assert!(c.purge.is_none());
        assert_eq!(c.coalesce_wait_ms(), Some(1000));
        assert_eq!((c.stale_while_revalidate, c.stale_if_error), (0, 0));
    }

    #[test]
    fn the_coalescing_wait_stays_inside_the_redis_timeout() {
        let c = parse(r#"{"strategy": "redis", "coalesce_timeout": 5000}"#).unwrap();
        assert_eq!(c.coalesce_wait_ms(), Some(1750));
        let c = parse(r#"{"strategy": "redis", "coalesce_timeout": 0}"#).unwrap();
        assert_eq!(c.coalesce_wait_ms(), None);
        let c = parse(r#"{"strategy": "memory"}"#).unwrap();
        assert_eq!(c.coalesce_wait_ms(), None);
    }

    #[test]
    fn a_blocking_wait_is_whole_seconds_that_fit_the_redis_timeout() {
        let wait = |extra: &str| {
            let json = format!(r#"{{"strategy": "redis"{extra}}}"#);
            parse(&json).unwrap().blocking_wait_s()
        };
        assert_eq!(wait(""), Some(1));
        assert_eq!(wait(r#", "coalesce_timeout": 300"#), Some(1));
        assert_eq!(wait(r#", "coalesce_timeout": 1500"#), Some(1));
        let longer = r#", "coalesce_timeout": 1500, "redis_timeout": 2250"#;
        assert_eq!(wait(longer), Some(2));
        assert_eq!(
            wait(r#", "coalesce_timeout": 5000, "redis_timeout": 4000"#),
            Some(3)
        );
        assert_eq!(wait(r#", "redis_timeout": 1000"#), None);
        assert_eq!(wait(r#", "coalesce_timeout": 0"#), None);
    }

    #[test]
    fn the_guides_config_as_written() {
        let c = parse(
            r#"{"strategy": "redis", "redis_host": "127.0.0.1", "redis_port": 6379,
                "content_type": ["application/json"], "cache_ttl": 300, "cache_control": true}"#,
        )
        .unwrap();
        assert_eq!(c.strategy, Strategy::Redis);
        assert_eq!(c.content_type, vec!["application/json"]);
        assert!(c.cache_control);
        assert!(format!("{:?}", c.redis.mode).contains("6379"));
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (config, message) in [
            (r#"{}"#, "strategy: required field missing"),
            (
                r#"{"strategy": "disk"}"#,
                "strategy: expected one of: memory, redis",
            ),
            (
                r#"{"strategy": "redis", "response_code": [99]}"#,
                "response_code[1]: value should be between 100 and 900",
            ),
            (
                r#"{"strategy": "redis", "response_code": []}"#,
                "response_code: length must be at least 1",
            ),
            (
                r#"{"strategy": "redis", "request_method": ["GET", "DELETE"]}"#,
                "request_method[2]: expected one of: HEAD, GET, POST, PATCH, PUT",
            ),
            (
                r#"{"strategy": "redis", "cache_ttl": 0}"#,
                "cache_ttl: value should be between 1 and 4294967295",
            ),
            (
                r#"{"strategy": "redis", "cache_tll": 5}"#,
                "cache_tll: unknown field (did you mean 'cache_ttl'?)",
            ),
            (
                r#"{"strategy": "redis", "response_headers": {"X-Cache-State": true}}"#,
                "response_headers.X-Cache-State: unknown field",
            ),
            (
                r#"{"strategy": "redis", "purge": {"secret": "short"}}"#,
                "purge.secret: required, at least 16 characters",
            ),
        ] {
            let e = parse(config).unwrap_err().to_string();
            assert!(e.contains(message), "{config}: {e}");
        }
    }

    #[test]
    fn storage_ttl_follows_kong() {
        let c = parse(r#"{"strategy": "redis", "cache_ttl": 60}"#).unwrap();
        assert_eq!(c.storage_ttl(5), 60);
        let c = parse(r#"{"strategy": "redis", "cache_control": true}"#).unwrap();
        assert_eq!(c.storage_ttl(5), 5);
        let c = parse(r#"{"strategy": "redis", "storage_ttl": 900}"#).unwrap();
        assert_eq!(c.storage_ttl(5), 900);
    }

    #[test]
    fn meta_json_is_the_parsers_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-proxy-cache.meta.json"
        );
        let checked = redis_filter_core::config::schema::check_meta_json(
            path,
            &kong_schema(),
            "redis-proxy-cache",
        );
        assert_eq!(checked, Ok(()));
    }
}
