//! The filter's config: Kong 3.x's session plugin `config`, field for field, with the old names
//! Kong still accepts (`cookie_lifetime`, `cookie_idletime`, `cookie_samesite`,
//! `cookie_httponly`, `cookie_discard`, `cookie_persistent`, `cookie_renew`), `storage: redis`
//! (the integration guide's) with the shared `redis` block and the flat `redis_*` names, and
//! `redis_key_prefix` (beyond Kong).

use redis_filter_core::{ConfigError, Fields, RedisConfig};
use serde_json::Value;

pub const HEADERS: &[&str] = &[
    "id",
    "audience",
    "subject",
    "timeout",
    "idling-timeout",
    "rolling-timeout",
    "absolute-timeout",
];

/// Where sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// In the cookie itself, sealed (Kong's default).
    Cookie,
    /// In a Redis hash, the cookie carrying its signed id (the integration guide's).
    Redis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub storage: Storage,
    /// The cookie's key (HMAC, or the seal of `storage: cookie`); None: derived from the config
    /// (see the README).
    pub secret: Option<String>,
    pub audience: String,
    pub idling_timeout: u64,
    pub rolling_timeout: u64,
    pub absolute_timeout: u64,
    pub stale_ttl: u64,
    pub cookie_name: String,
    pub cookie_path: String,
    pub cookie_domain: Option<String>,
    pub cookie_same_site: &'static str,
    pub cookie_http_only: bool,
    pub cookie_secure: bool,
    pub remember: bool,
    pub remember_cookie_name: String,
    pub remember_rolling_timeout: u64,
    pub remember_absolute_timeout: u64,
    pub request_headers: Vec<&'static str>,
    pub response_headers: Vec<&'static str>,
    pub logout_methods: Vec<&'static str>,
    pub logout_query_arg: String,
    pub logout_post_arg: String,
    pub read_body_for_logout: bool,
    pub hash_subject: bool,
    pub redis_key_prefix: String,
    pub redis: RedisConfig,
}

fn seconds(top: &mut Fields, name: &str) -> Result<Option<u64>, ConfigError> {
    match top.number(name)? {
        Some(n) if n < 0.0 => Err(top.error(name, "value must be at least 0")),
        Some(n) => Ok(Some(n.floor() as u64)),
        None => Ok(None),
    }
}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        redis_filter_core::config::read_filter_config(json, Self::read)
    }

    fn read(top: &mut Fields) -> Result<Self, ConfigError> {
        let storage = match top.one_of("storage", &["cookie", "kong", "redis"])? {
            Some("redis") => Storage::Redis,
            Some("kong") => {
                return Err(top.error(
                    "storage",
                    "'kong' needs Kong's database, which a filter cannot reach: use 'redis'",
                ))
            }
            _ => Storage::Cookie,
        };
        // The old names win over the new ones, as in Kong.
        let old_rolling = seconds(top, "cookie_lifetime")?;
        let old_idling = match top.value("cookie_idletime") {
            Some(_) => seconds(top, "cookie_idletime")?,
            None => None,
        };
        let old_discard = seconds(top, "cookie_discard")?;
        // `cookie_renew` is accepted and ignored (Kong logs that it no longer exists).
        seconds(top, "cookie_renew")?;
        let old_same_site = top.str("cookie_samesite")?;
        let old_http_only = top.bool("cookie_httponly")?;
        let old_persistent = top.bool("cookie_persistent")?;
        let rolling = seconds(top, "rolling_timeout")?.unwrap_or(3600);
        let idling = seconds(top, "idling_timeout")?.unwrap_or(900);
        let same_site_choices = ["Strict", "Lax", "None", "Default"];
        let same_site = top.one_of("cookie_same_site", &same_site_choices)?;
        let same_site = match old_same_site {
            Some("off") => "Lax",
            Some(old) => same_site_choices
                .iter()
                .copied()
                .find(|c| *c == old)
                .ok_or_else(|| {
                    top.error(
                        "cookie_samesite",
                        "expected one of: Strict, Lax, None, Default, off",
                    )
                })?,
            None => same_site.unwrap_or("Strict"),
        };
        let remember = old_persistent.or(top.bool("remember")?).unwrap_or(false);
        let remember_cookie_name = top
            .str("remember_cookie_name")?
            .unwrap_or("remember")
            .to_string();
        let remember_rolling_timeout = seconds(top, "remember_rolling_timeout")?.unwrap_or(604_800);
        let remember_absolute_timeout =
            seconds(top, "remember_absolute_timeout")?.unwrap_or(2_592_000);
        // Kong's metadata table lives in its database; accepted for Kong configs.
        top.bool("store_metadata")?;
        let headers = |top: &mut Fields, name: &str| -> Result<Vec<&'static str>, ConfigError> {
            Ok(top.each_one_of(name, HEADERS)?.unwrap_or_default())
        };
        let request_headers = headers(top, "request_headers")?;
        let response_headers = headers(top, "response_headers")?;
        let logout_methods = top
            .each_one_of("logout_methods", &["GET", "POST", "DELETE"])?
            .unwrap_or_else(|| vec!["POST", "DELETE"]);
        let text = |top: &mut Fields, name: &str, default: &str| -> Result<String, ConfigError> {
            Ok(top.str(name)?.unwrap_or(default).to_string())
        };
        let cookie_name = text(top, "cookie_name", "session")?;
        if cookie_name.is_empty() || cookie_name.contains([';', '=', ' ', ',']) {
            return Err(top.error(
                "cookie_name",
                "must be a cookie name (no ';', '=', ',', ' ')",
            ));
        }
        let redis = RedisConfig::from_plugin_config(top)?;
        Ok(Self {
            storage,
            secret: top.str("secret")?.map(str::to_string),
            audience: text(top, "audience", "default")?,
            idling_timeout: old_idling.unwrap_or(idling),
            rolling_timeout: old_rolling.unwrap_or(rolling),
            absolute_timeout: seconds(top, "absolute_timeout")?.unwrap_or(86400),
            stale_ttl: old_discard.or(seconds(top, "stale_ttl")?).unwrap_or(10),
            cookie_name,
            cookie_path: text(top, "cookie_path", "/")?,
            cookie_domain: top.str("cookie_domain")?.map(str::to_string),
            cookie_same_site: same_site,
            cookie_http_only: old_http_only
                .or(top.bool("cookie_http_only")?)
                .unwrap_or(true),
            cookie_secure: top.bool("cookie_secure")?.unwrap_or(true),
            remember,
            remember_cookie_name,
            remember_rolling_timeout,
            remember_absolute_timeout,
            request_headers,
            response_headers,
            logout_methods,
            logout_query_arg: text(top, "logout_query_arg", "session_logout")?,
            logout_post_arg: text(top, "logout_post_arg", "session_logout")?,
            read_body_for_logout: top.bool("read_body_for_logout")?.unwrap_or(false),
            hash_subject: top.bool("hash_subject")?.unwrap_or(false),
            redis_key_prefix: text(top, "redis_key_prefix", "")?,
            redis,
        })
    }
}

/// Kong's `config_schema` for this filter (kong/redis-session.meta.json), drawn from the parser.
pub fn kong_schema() -> Value {
    use redis_filter_core::config::{guide_aliases, schema};
    use serde_json::json;
    let mut recorded = schema::record(|| {
        for example in [
            json!({"storage": "redis"}),
            json!({"storage": "redis", "redis": {"sentinel_master": "m", "sentinel_role": "master",
                "sentinel_nodes": [{"host": "h", "port": 1}]}}),
            json!({"storage": "redis", "redis": {"cluster_nodes": [{"ip": "h", "port": 1}]}}),
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

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s.as_bytes())
    }

    #[test]
    fn kongs_defaults() {
        assert_eq!(parse("{}").unwrap().storage, Storage::Cookie);
        let c = parse(r#"{"storage": "redis"}"#).unwrap();
        assert_eq!(
            (
                c.idling_timeout,
                c.rolling_timeout,
                c.absolute_timeout,
                c.stale_ttl
            ),
            (900, 3600, 86400, 10)
        );
        assert_eq!(
            (c.cookie_name.as_str(), c.cookie_path.as_str()),
            ("session", "/")
        );
        assert_eq!(c.cookie_same_site, "Strict");
        assert!(c.cookie_http_only && c.cookie_secure);
        assert_eq!(c.logout_methods, vec!["POST", "DELETE"]);
        assert_eq!(c.logout_query_arg, "session_logout");
        assert_eq!(c.audience, "default");
    }

    #[test]
    fn the_guides_configs_as_written() {
        let c = parse(
            r#"{"storage": "redis", "redis_host": "127.0.0.1", "redis_port": 6379,
                "redis_timeout": 2000, "cookie_name": "kong_session",
                "cookie_lifetime": 3600, "cookie_secure": true}"#,
        )
        .unwrap();
        assert_eq!(c.cookie_name, "kong_session");
        assert_eq!(c.rolling_timeout, 3600);
        let c = parse(r#"{"storage": "redis", "cookie_lifetime": 7200}"#).unwrap();
        assert_eq!(c.rolling_timeout, 7200);
    }

    #[test]
    fn old_names_win_as_in_kong() {
        let c = parse(
            r#"{"storage": "redis", "cookie_lifetime": 10, "rolling_timeout": 20,
                "cookie_idletime": 5, "cookie_samesite": "off", "cookie_httponly": false,
                "cookie_discard": 3, "cookie_renew": 600}"#,
        )
        .unwrap();
        assert_eq!(
            (c.rolling_timeout, c.idling_timeout, c.stale_ttl),
            (10, 5, 3)
        );
        assert_eq!(c.cookie_same_site, "Lax");
        assert!(!c.cookie_http_only);
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (config, message) in [
            (
                r#"{"storage": "kong"}"#,
                "storage: 'kong' needs Kong's database",
            ),
            (
                r#"{"storage": "redis", "cookie_same_site": "Sometimes"}"#,
                "cookie_same_site: expected one of: Strict, Lax, None, Default",
            ),
            (
                r#"{"storage": "redis", "logout_methods": ["PUT"]}"#,
                "logout_methods[1]: expected one of: GET, POST, DELETE",
            ),
            (
                r#"{"storage": "redis", "response_headers": ["ids"]}"#,
                "response_headers[1]: expected one of: id, audience",
            ),
            (
                r#"{"storage": "redis", "idling_timeout": -1}"#,
                "idling_timeout: value must be at least 0",
            ),
            (
                r#"{"storage": "redis", "cookie_nam": "x"}"#,
                "cookie_nam: unknown field (did you mean 'cookie_name'?)",
            ),
        ] {
            let e = parse(config).unwrap_err().to_string();
            assert!(e.contains(message), "{config}: {e}");
        }
    }

    #[test]
    fn meta_json_is_the_parsers_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-session.meta.json"
        );
        let checked = redis_filter_core::config::schema::check_meta_json(
            path,
            &kong_schema(),
            "redis-session",
        );
        assert_eq!(checked, Ok(()));
    }
}
