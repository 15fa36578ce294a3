//! Filter configuration: a reader for Kong-style JSON config objects and Kong's `redis` block.

mod error;
mod fields;
pub mod guide_aliases;
mod redis;
pub mod schema;

pub use error::ConfigError;
pub use fields::Fields;
pub use redis::{NodeAddr, RedisConfig, RedisMode, SentinelRole, DEFAULT_TUNNEL};

/// A filter's JSON config, read field by field by `read` after the integration guide's flat
/// Redis names are moved into `redis`; a field `read` never asked for is refused.
pub fn read_filter_config<T>(
    json: &[u8],
    read: impl FnOnce(&mut Fields) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let mut value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| ConfigError::new("", format!("config is not valid JSON: {e}")))?;
    guide_aliases::hoist(&mut value)?;
    let mut top = Fields::new("", &value)?;
    let config = read(&mut top)?;
    // An unknown field (a misspelt `minutes`) is named before what its absence implies.
    top.finish()?;
    Ok(config)
}
