//! Filter configuration: a reader for Kong-style JSON config objects and Kong's `redis` block.

mod error;
mod fields;
pub mod guide_aliases;
mod redis;
pub mod schema;

pub use error::ConfigError;
pub use fields::Fields;
pub use redis::{NodeAddr, RedisConfig, RedisMode, SentinelRole, DEFAULT_TUNNEL};
