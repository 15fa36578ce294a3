//! The filter's config: Kong's jwt plugin `config`, field for field, plus `consumers` (beyond
//! Kong, whose credentials live in its database): each consumer with Kong's `jwt_secrets`.

use crate::public_key::PublicKey;
use redis_filter_core::jwt::Places;
use redis_filter_core::{ConfigError, Fields, RedisConfig};
use serde_json::Value;
use std::rc::Rc;

/// Kong's algorithms, every one.
pub const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA",
];

/// A `jwt_secrets` credential (Kong's shape). `public_key` is `rsa_public_key` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub key: String,
    pub secret: String,
    pub algorithm: &'static str,
    pub public_key: Option<Rc<PublicKey>>,
}

impl Credential {
    /// Kong's `jwt_secrets` entity: `key` required here (Kong generates one), `secret` (HS*),
    /// `algorithm` (default HS256), `rsa_public_key` (required for RS*, PS*, EdDSA, as Kong's
    /// schema says; optional for ES*, which Kong then refuses per request with "Invalid
    /// key/secret"). A key that does not parse is refused here, where Kong fails each request.
    pub fn read(mut c: Fields) -> Result<Self, ConfigError> {
        let key = c
            .str("key")?
            .ok_or_else(|| c.error("key", "required field missing"))?
            .to_string();
        let secret = c.str("secret")?.unwrap_or("").to_string();
        let algorithm = c.one_of("algorithm", ALGORITHMS)?.unwrap_or("HS256");
        let pem = c.str("rsa_public_key")?;
        let public_key = match (algorithm, pem) {
            (a, _) if a.starts_with("HS") => None,
            (a, None) if !a.starts_with("ES") => {
                return Err(c.error("rsa_public_key", "required field missing"))
            }
            (_, None) => None,
            (a, Some(pem)) => Some(Rc::new(
                PublicKey::parse(a, pem).map_err(|e| c.error("rsa_public_key", &e))?,
            )),
        };
        c.finish()?;
        Ok(Self {
            key,
            secret,
            algorithm,
            public_key,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub credentials: Vec<Credential>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the token may be: `uri_param_names`, `cookie_names`, `header_names`.
    pub places: Places,
    pub key_claim_name: String,
    pub secret_is_base64: bool,
    pub claims_to_verify: Vec<&'static str>,
    pub anonymous: Option<String>,
    pub run_on_preflight: bool,
    pub maximum_expiration: f64,
    pub realm: Option<String>,
    pub consumers: Vec<Consumer>,
    /// Beyond Kong: credentials also looked up in Redis (`store`), when not in `consumers`.
    pub redis_store: Option<RedisStore>,
}

/// Where and how long the credentials kept in Redis are read (see `store`).
#[derive(Debug, Clone, PartialEq)]
pub struct RedisStore {
    pub prefix: String,
    pub cache_ttl_ms: u64,
    pub negative_ttl_ms: u64,
    pub redis: RedisConfig,
}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Self, ConfigError> {
        redis_filter_core::config::read_filter_config(json, Self::read)
    }

    fn read(top: &mut Fields) -> Result<Self, ConfigError> {
        let claims_to_verify = top
            .each_one_of("claims_to_verify", &["exp", "nbf"])?
            .unwrap_or_default();
        let maximum_expiration = match top.number("maximum_expiration")? {
            Some(n) if !(0.0..=31_536_000.0).contains(&n) => {
                return Err(top.error(
                    "maximum_expiration",
                    "value should be between 0 and 31536000",
                ))
            }
            Some(n) => n,
            None => 0.0,
        };
        if maximum_expiration > 0.0 && !claims_to_verify.contains(&"exp") {
            return Err(top.error(
                "claims_to_verify",
                "expected to contain: exp (maximum_expiration is set)",
            ));
        }
        let consumers = match top.array("consumers")? {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| consumer(&format!("consumers[{}]", i + 1), v))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let in_redis = top.bool("credentials_in_redis")?.unwrap_or(false);
        let prefix = top
            .str("credential_prefix")?
            .unwrap_or("redis_jwt:credential:");
        let prefix = prefix.to_string();
        let seconds = |top: &mut Fields, name: &str, default: i64| -> Result<u64, ConfigError> {
            Ok(top.int(name, 0, 86_400)?.unwrap_or(default) as u64 * 1000)
        };
        let cache_ttl_ms = seconds(top, "credential_cache_ttl", 60)?;
        let negative_ttl_ms = seconds(top, "credential_negative_ttl", 5)?;
        let redis = RedisConfig::from_plugin_config(top)?;
        let redis_store = in_redis.then_some(RedisStore {
            prefix,
            cache_ttl_ms,
            negative_ttl_ms,
            redis,
        });
        Ok(Self {
            redis_store,
            places: Places::read(top)?,
            key_claim_name: top.str("key_claim_name")?.unwrap_or("iss").to_string(),
            secret_is_base64: top.bool("secret_is_base64")?.unwrap_or(false),
            claims_to_verify,
            anonymous: top.str("anonymous")?.map(str::to_string),
            run_on_preflight: top.bool("run_on_preflight")?.unwrap_or(true),
            maximum_expiration,
            realm: top.str("realm")?.map(str::to_string),
            consumers,
        })
    }

    /// The consumer with a credential of `key` (Kong's keys are unique: the first one).
    pub fn holder(&self, key: &str) -> Option<&Consumer> {
        self.consumers
            .iter()
            .find(|c| c.credentials.iter().any(|cred| cred.key == key))
    }

    /// A consumer by id or username (Kong's `anonymous` takes either).
    pub fn consumer(&self, id_or_name: &str) -> Option<&Consumer> {
        self.consumers
            .iter()
            .find(|c| c.id == id_or_name || c.username.as_deref() == Some(id_or_name))
    }
}

/// A consumer in Kong's shape, with its `jwt_secrets` (config, or a value kept in Redis).
pub fn consumer(path: &str, value: &Value) -> Result<Consumer, ConfigError> {
    let mut f = Fields::new(path, value)?;
    let id = f
        .str("id")?
        .ok_or_else(|| f.error("id", "required field missing"))?
        .to_string();
    let username = f.str("username")?.map(str::to_string);
    let custom_id = f.str("custom_id")?.map(str::to_string);
    let mut credentials = Vec::new();
    if let Some(items) = f.array("jwt_secrets")? {
        for (i, item) in items.iter().enumerate() {
            let c = Fields::new(&format!("{path}.jwt_secrets[{}]", i + 1), item)?;
            credentials.push(Credential::read(c)?);
        }
    }
    f.finish()?;
    Ok(Consumer {
        id,
        username,
        custom_id,
        credentials,
    })
}

/// Kong's `config_schema` for this filter (kong/redis-jwt.meta.json), drawn from the parser.
pub fn kong_schema() -> Value {
    use redis_filter_core::config::schema;
    use serde_json::json;
    let recorded = schema::record(|| {
        for example in [
            json!({"consumers": [{"id": "c", "username": "u", "custom_id": "x",
                "jwt_secrets": [{"key": "k", "secret": "s", "algorithm": "HS256",
                    "rsa_public_key": "-"}]}]}),
            json!({"redis": {"sentinel_master": "m", "sentinel_role": "master",
                "sentinel_nodes": [{"host": "h", "port": 1}]}}),
            json!({"redis": {"cluster_nodes": [{"ip": "h", "port": 1}]}}),
        ] {
            let _ = Config::parse(example.to_string().as_bytes());
        }
    });
    let mut recorded = recorded;
    for (flat, field) in redis_filter_core::config::guide_aliases::MOVES {
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
        let c = parse("{}").unwrap();
        assert_eq!(c.places.uri_param_names, vec!["jwt"]);
        assert_eq!(c.places.header_names, vec!["authorization"]);
        assert!(c.places.cookie_names.is_empty() && c.claims_to_verify.is_empty());
        assert_eq!(c.key_claim_name, "iss");
        assert!(c.run_on_preflight && !c.secret_is_base64);
        assert_eq!(c.maximum_expiration, 0.0);
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (config, message) in [
            (
                r#"{"claims_to_verify": ["iat"]}"#,
                "claims_to_verify[1]: expected one of: exp, nbf",
            ),
            (
                r#"{"maximum_expiration": 5}"#,
                "claims_to_verify: expected to contain: exp",
            ),
            (
                r#"{"maximum_expiration": -1, "claims_to_verify": ["exp"]}"#,
                "maximum_expiration: value should be between 0 and 31536000",
            ),
            (
                r#"{"consumers": [{"username": "u"}]}"#,
                "consumers[1].id: required field missing",
            ),
            (
                r#"{"consumers": [{"id": "c", "jwt_secrets": [{"key": "k", "algorithm": "HS999"}]}]}"#,
                "consumers[1].jwt_secrets[1].algorithm: expected one of: HS256",
            ),
            (
                r#"{"consumers": [{"id": "c", "jwt_secrets": [{"key": "k", "algorithm": "RS256"}]}]}"#,
                "consumers[1].jwt_secrets[1].rsa_public_key: required field missing",
            ),
            (
                r#"{"consumers": [{"id": "c", "jwt_secrets": [{"key": "k", "algorithm": "EdDSA", "rsa_public_key": "x"}]}]}"#,
                "consumers[1].jwt_secrets[1].rsa_public_key: invalid key (EdDSA",
            ),
            (r#"{"key_claim": "iss"}"#, "key_claim: unknown field"),
        ] {
            let e = parse(config).unwrap_err().to_string();
            assert!(e.contains(message), "{config}: {e}");
        }
    }

    #[test]
    fn meta_json_is_the_parsers_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-jwt.meta.json"
        );
        let checked =
            redis_filter_core::config::schema::check_meta_json(path, &kong_schema(), "redis-jwt");
        assert_eq!(checked, Ok(()));
    }
}
