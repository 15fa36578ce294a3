//! Kong's `redis` config block: the OSS and Enterprise field names and defaults, the flat
//! `redis_*` aliases, the deprecated `sentinel_addresses` / `cluster_addresses`, Kong's checks,
//! and our extension `tunnel` (the host upstream through which Redis is reached).

use super::{ConfigError, Fields};
use serde_json::Value;
use std::fmt;

/// The upstream name a filter dispatches its RESP tunnel calls to unless `redis.tunnel` says.
pub const DEFAULT_TUNNEL: &str = "redis_tunnel";

const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 6379;
const DEFAULT_TIMEOUT_MS: u32 = 2000;
const DEFAULT_MAX_REDIRECTIONS: u32 = 5;
const DEFAULT_KEEPALIVE_POOL_SIZE: u32 = 256;
/// Kong's typedefs.timeout upper bound (2^31 - 2).
const MAX_TIMEOUT_MS: i64 = 2_147_483_646;

/// The flat top-level aliases of the OSS plugins (`config.redis_host` = `config.redis.host`).
const FLAT_ALIASES: &[(&str, &str)] = &[
    ("redis_host", "host"),
    ("redis_port", "port"),
    ("redis_password", "password"),
    ("redis_username", "username"),
    ("redis_database", "database"),
    ("redis_timeout", "timeout"),
    ("redis_ssl", "ssl"),
    ("redis_ssl_verify", "ssl_verify"),
    ("redis_server_name", "server_name"),
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
}

impl NodeAddr {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses Kong's deprecated "host:port" form (`[v6]:port` for IPv6).
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse().ok()?;
        valid_host(host).then(|| Self::new(host, port))
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentinelRole {
    Master,
    Slave,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMode {
    Standalone(NodeAddr),
    Sentinel {
        master: String,
        role: SentinelRole,
        nodes: Vec<NodeAddr>,
    },
    Cluster {
        nodes: Vec<NodeAddr>,
        max_redirections: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub mode: RedisMode,
    pub connect_timeout_ms: u32,
    pub send_timeout_ms: u32,
    pub read_timeout_ms: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: u32,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
    /// TLS is the host's job (Envoy transport_socket, nginx proxy_ssl); kept so configs round-trip.
    pub ssl: bool,
    pub ssl_verify: bool,
    pub server_name: Option<String>,
    pub keepalive_pool_size: u32,
    pub keepalive_backlog: Option<u32>,
    pub connection_is_proxied: bool,
    /// Extension: the host upstream (Envoy cluster, Kong `host:port`, harness tunnel name) that
    /// carries RESP pipelines to Redis.
    pub tunnel: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            mode: RedisMode::Standalone(NodeAddr::new(DEFAULT_HOST, DEFAULT_PORT)),
            connect_timeout_ms: DEFAULT_TIMEOUT_MS,
            send_timeout_ms: DEFAULT_TIMEOUT_MS,
            read_timeout_ms: DEFAULT_TIMEOUT_MS,
            username: None,
            password: None,
            database: 0,
            sentinel_username: None,
            sentinel_password: None,
            ssl: false,
            ssl_verify: false,
            server_name: None,
            keepalive_pool_size: DEFAULT_KEEPALIVE_POOL_SIZE,
            keepalive_backlog: None,
            connection_is_proxied: false,
            tunnel: DEFAULT_TUNNEL.to_string(),
        }
    }
}

impl RedisConfig {
    /// Parses a `redis` block on its own (`value` is the block itself).
    pub fn parse(value: &Value) -> Result<Self, ConfigError> {
        let mut block = Fields::new("redis", value)?;
        let config = Self::from_block(&mut block, None)?;
        block.finish()?;
        Ok(config)
    }

    /// Reads the `redis` block and the flat `redis_*` aliases from a plugin's top-level config,
    /// marking them as read in `top` (the filter then reads its own fields and `finish`es).
    pub fn from_plugin_config(top: &mut Fields) -> Result<Self, ConfigError> {
        let empty = Value::Object(Default::default());
        let mut block = match top.record("redis")? {
            Some(block) => block,
            None => Fields::new("redis", &empty)?,
        };
        let config = Self::from_block(&mut block, Some(top))?;
        block.finish()?;
        Ok(config)
    }

    /// The whole budget of one call to Redis: connect, send and read share it.
    pub fn call_timeout_ms(&self) -> u32 {
        self.connect_timeout_ms
            .max(self.send_timeout_ms)
            .max(self.read_timeout_ms)
    }

    /// How many MOVED / ASK redirects a command follows: `cluster_max_redirections` in a
    /// cluster, none elsewhere.
    pub fn max_redirections(&self) -> u32 {
        match self.mode {
            RedisMode::Cluster {
                max_redirections, ..
            } => max_redirections,
            _ => 0,
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.mode, RedisMode::Cluster { .. })
    }

    fn from_block(block: &mut Fields, top: Option<&mut Fields>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let mut flat = FlatAliases { top };

        let host = match flat.str(block, "host")? {
            Some(h) if !valid_host(&h) => return Err(block.error("host", "invalid host")),
            Some(h) => h,
            None => DEFAULT_HOST.to_string(),
        };
        let port = flat
            .int(block, "port", 0, 65535)?
            .map_or(DEFAULT_PORT, |p| p as u16);
        let timeout = flat.int(block, "timeout", 0, MAX_TIMEOUT_MS)?;
        // EE splits `timeout` into three; an explicit phase timeout wins over the shorthand.
        let mut phase_timeout = |name: &str| -> Result<u32, ConfigError> {
            Ok(block
                .int(name, 0, MAX_TIMEOUT_MS)?
                .or(timeout)
                .map_or(DEFAULT_TIMEOUT_MS, |t| t as u32))
        };
        let connect_timeout_ms = phase_timeout("connect_timeout")?;
        let send_timeout_ms = phase_timeout("send_timeout")?;
        let read_timeout_ms = phase_timeout("read_timeout")?;
        let username = flat.str(block, "username")?;
        let password = flat.str(block, "password")?;
        let database = flat
            .int(block, "database", 0, i64::from(i32::MAX))?
            .map_or(0, |n| n as u32);
        let ssl = flat.bool(block, "ssl")?.unwrap_or(false);
        let ssl_verify = flat.bool(block, "ssl_verify")?.unwrap_or(false);
        let server_name = flat.str(block, "server_name")?;

        let mode = read_mode(block, NodeAddr::new(host, port))?;
        let tunnel = match block.str("tunnel")? {
            Some("") => return Err(block.error("tunnel", "length must be at least 1")),
            Some(t) => t.to_string(),
            None => d.tunnel,
        };
        let owned = |s: Option<&str>| s.map(str::to_string);
        Ok(Self {
            mode,
            connect_timeout_ms,
            send_timeout_ms,
            read_timeout_ms,
            username,
            password,
            database,
            sentinel_username: owned(block.str("sentinel_username")?),
            sentinel_password: owned(block.str("sentinel_password")?),
            ssl,
            ssl_verify,
            server_name,
            keepalive_pool_size: block
                .int("keepalive_pool_size", 1, MAX_TIMEOUT_MS)?
                .map_or(d.keepalive_pool_size, |n| n as u32),
            keepalive_backlog: block
                .int("keepalive_backlog", 0, MAX_TIMEOUT_MS)?
                .map(|n| n as u32),
            connection_is_proxied: block.bool("connection_is_proxied")?.unwrap_or(false),
            tunnel,
        })
    }
}

/// Reads a field from the block or from its flat `redis_*` alias at the plugin's top level;
/// giving both with different values is refused rather than guessed.
struct FlatAliases<'t, 'a> {
    top: Option<&'t mut Fields<'a>>,
}

impl FlatAliases<'_, '_> {
    fn pick<T: PartialEq>(
        &mut self,
        block: &mut Fields,
        name: &str,
        read: impl Fn(&mut Fields, &str) -> Result<Option<T>, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        let own = read(block, name)?;
        let alias = FLAT_ALIASES
            .iter()
            .find(|(_, f)| *f == name)
            .map(|(a, _)| *a);
        let (Some(top), Some(alias)) = (self.top.as_deref_mut(), alias) else {
            return Ok(own);
        };
        match (own, read(top, alias)?) {
            (Some(a), Some(b)) if a != b => Err(top.error(
                alias,
                format!(
                    "conflicts with {}: give only one of them",
                    block.path_of(name)
                ),
            )),
            (own, flat) => Ok(own.or(flat)),
        }
    }

    fn str(&mut self, block: &mut Fields, name: &str) -> Result<Option<String>, ConfigError> {
        self.pick(block, name, |f, n| Ok(f.str(n)?.map(str::to_string)))
    }

    fn int(
        &mut self,
        block: &mut Fields,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ConfigError> {
        self.pick(block, name, |f, n| f.int(n, min, max))
    }

    fn bool(&mut self, block: &mut Fields, name: &str) -> Result<Option<bool>, ConfigError> {
        self.pick(block, name, |f, n| f.bool(n))
    }
}

const SENTINEL_SET: [&str; 3] = ["sentinel_master", "sentinel_role", "sentinel_nodes"];

/// Standalone, Sentinel or Cluster, with Kong EE's rules: the sentinel fields all or none, and
/// Sentinel and Cluster not both.
fn read_mode(block: &mut Fields, standalone: NodeAddr) -> Result<RedisMode, ConfigError> {
    let sentinel_nodes = read_nodes(block, "sentinel_nodes", "host", "sentinel_addresses")?;
    let cluster_nodes = read_nodes(block, "cluster_nodes", "ip", "cluster_addresses")?;
    let master = block.str("sentinel_master")?;
    let role = block.one_of("sentinel_role", &["master", "slave", "any"])?;
    let max_redirections = block
        .int("cluster_max_redirections", 0, MAX_TIMEOUT_MS)?
        .map_or(DEFAULT_MAX_REDIRECTIONS, |n| n as u32);

    let given = [master.is_some(), role.is_some(), sentinel_nodes.is_some()];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        let missing = SENTINEL_SET
            .iter()
            .zip(given)
            .find(|(_, g)| !g)
            .map_or("sentinel_master", |(name, _)| *name);
        let all = SENTINEL_SET
            .map(|n| format!("'{}'", block.path_of(n)))
            .join(", ");
        return Err(block.error(
            missing,
            format!("all or none of these fields must be set: {all}"),
        ));
    }
    match (master, role, sentinel_nodes, cluster_nodes) {
        (Some(_), _, _, Some(_)) => Err(block.error(
            "cluster_nodes",
            "Sentinel and Cluster cannot be used together: set either the sentinel fields or cluster_nodes",
        )),
        (Some(master), Some(role), Some(nodes), None) => Ok(RedisMode::Sentinel {
            master: master.to_string(),
            role: match role {
                "slave" => SentinelRole::Slave,
                "any" => SentinelRole::Any,
                _ => SentinelRole::Master,
            },
            nodes,
        }),
        (_, _, _, Some(nodes)) => Ok(RedisMode::Cluster {
            nodes,
            max_redirections,
        }),
        _ => Ok(RedisMode::Standalone(standalone)),
    }
}

/// `sentinel_nodes` / `cluster_nodes` as records, or their deprecated "host:port" string form.
fn read_nodes(
    block: &mut Fields,
    name: &str,
    host_key: &str,
    deprecated: &str,
) -> Result<Option<Vec<NodeAddr>>, ConfigError> {
    let records = block.array(name)?;
    let strings = block.strings(deprecated)?;
    let nodes = match (records, strings) {
        (Some(_), Some(_)) => {
            return Err(block.error(
                deprecated,
                format!("deprecated alias of {name}: give only one of them"),
            ))
        }
        (Some(items), None) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{}]", block.path_of(name), i + 1);
                let mut node = Fields::new(&path, item)?;
                let host = node.str(host_key)?.unwrap_or(DEFAULT_HOST);
                if !valid_host(host) {
                    return Err(node.error(host_key, "invalid host"));
                }
                let port = node
                    .int("port", 0, 65535)?
                    .map_or(DEFAULT_PORT, |p| p as u16);
                node.finish()?;
                Ok(NodeAddr::new(host, port))
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, Some(addrs)) => addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                NodeAddr::parse(a).ok_or_else(|| {
                    ConfigError::new(
                        format!("{}[{}]", block.path_of(deprecated), i + 1),
                        format!("invalid address {a:?}: expected host:port"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, None) => return Ok(None),
    };
    if nodes.is_empty() {
        return Err(block.error(name, "length must be at least 1"));
    }
    Ok(Some(nodes))
}

/// A hostname or an IP address, as Kong's typedefs.host accepts (no scheme, path or spaces).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
