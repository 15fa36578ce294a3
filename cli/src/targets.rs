//! The Redis nodes a kong.yml's filters may reach, read from their configs, for both renderers:
//! Envoy's RESP tunnel and the nginx bridge let through exactly these (and `--redis-allow`), so
//! neither is ever an open TCP proxy.

use redis_filter_core::config::{NodeAddr, RedisMode};
use redis_filter_core::{Fields, RedisConfig};
use serde_json::Value;

/// One node, or one host on any port, that a tunnel or the bridge lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Exactly this node: a standalone node, a sentinel, a cluster seed, `--redis-allow h:p`.
    Node(NodeAddr),
    /// Any port of this host: the hosts of `sentinel_nodes` / `cluster_nodes` (Sentinel and
    /// Cluster report nodes the config does not list, typically on the same hosts), and
    /// `--redis-allow h:*`.
    AnyPort(String),
}

impl Target {
    /// `--redis-allow`: `host:port` or `host:*` (`[v6]:port`, `[v6]:*`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--redis-allow {s:?}: {why} (expected HOST:PORT or HOST:*)");
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !valid {
            return Err(bad("bad host"));
        }
        match port {
            "*" => Ok(Self::AnyPort(host.to_string())),
            p => match p.parse::<u16>() {
                Ok(p) if p > 0 => Ok(Self::Node(NodeAddr::new(host, p))),
                _ => Err(bad("bad port")),
            },
        }
    }

    /// `host:port` or `host:*`, as a filter writes the `:authority` of its call (IPv6 in
    /// brackets), lower case: an Envoy virtual host's domain, an entry of the bridge's allowlist.
    pub fn domain(&self) -> String {
        let (host, port) = match self {
            Self::Node(n) => (n.host.as_str(), n.port.to_string()),
            Self::AnyPort(h) => (h.as_str(), "*".to_string()),
        };
        let host = host.to_ascii_lowercase();
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

/// How a config reaches its nodes: its `redis.ssl` and `redis.server_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls { sni: Option<String>, verify: bool },
}

/// A tunnel (`redis.tunnel`), the targets a config needs through it, and how it reaches them.
pub type TunnelUse = (String, Vec<Target>, Transport);

/// What a filter's config needs: its tunnel, its targets (a standalone node; sentinels or
/// cluster seeds, and any port of their hosts) and its transport. One for a filter that reaches
/// Redis with this config, none for one that does not (or a config its parser would refuse),
/// one per inner filter that does for a `redis-chain`.
pub fn redis_targets(name: &str, config: Option<&str>) -> Vec<TunnelUse> {
    let Some(value) = config.and_then(|c| serde_json::from_str::<Value>(c).ok()) else {
        return Vec::new();
    };
    match value.get("filters").and_then(Value::as_array) {
        Some(inner) if name == "redis-chain" => inner
            .iter()
            .filter_map(|f| {
                let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                let config = f.get("config")?;
                needs_redis(name, config).then(|| config.clone())
            })
            .filter_map(targets_of)
            .collect(),
        _ if !needs_redis(name, &value) => Vec::new(),
        _ => targets_of(value).into_iter().collect(),
    }
}

/// Whether a filter of this project reaches Redis with `config`, by its own switch (Kong's:
/// `policy`, `strategy`, `storage`; redis-jwt's `credentials_in_redis`): the tunnel then lets
/// it reach its nodes, and no other filter's defaults (127.0.0.1:6379) are let in. A filter of
/// anyone else's is taken to reach the Redis its config describes.
fn needs_redis(name: &str, config: &Value) -> bool {
    let is = |field: &str, want: &str| config.get(field).and_then(Value::as_str) == Some(want);
    match name {
        "redis-rate-limiting" => is("policy", "redis"),
        "redis-proxy-cache" => is("strategy", "redis"),
        "redis-session" => is("storage", "redis"),
        "redis-jwt" => config.get("credentials_in_redis").and_then(Value::as_bool) == Some(true),
        "redis-chain-end" => false,
        _ => true,
    }
}

fn targets_of(mut value: Value) -> Option<TunnelUse> {
    redis_filter_core::config::guide_aliases::hoist(&mut value).ok()?;
    let mut top = Fields::new("", &value).ok()?;
    let redis = RedisConfig::from_plugin_config(&mut top).ok()?;
    let targets = match &redis.mode {
        RedisMode::Standalone(n) => vec![Target::Node(n.clone())],
        RedisMode::Sentinel { nodes, .. } | RedisMode::Cluster { nodes, .. } => nodes
            .iter()
            .map(|n| Target::Node(n.clone()))
            .chain(nodes.iter().map(|n| Target::AnyPort(n.host.clone())))
            .collect(),
    };
    let transport = if redis.ssl {
        Transport::Tls {
            sni: redis.server_name,
            verify: redis.ssl_verify,
        }
    } else {
        Transport::Plain
    };
    Some((redis.tunnel, targets, transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_config_needs_its_seeds_and_any_port_of_their_hosts() {
        let config = r#"{"policy": "redis", "redis": {"cluster_nodes": [{"ip": "10.0.0.1", "port": 7000}, {"ip": "Redis-B", "port": 7001}], "ssl": true, "server_name": "r.test"}}"#;
        let uses = redis_targets("redis-rate-limiting", Some(config));
        assert_eq!(uses.len(), 1);
        let (tunnel, targets, transport) = &uses[0];
        assert_eq!(tunnel, "redis_tunnel");
        let domains: Vec<String> = targets.iter().map(Target::domain).collect();
        assert_eq!(
            domains,
            ["10.0.0.1:7000", "redis-b:7001", "10.0.0.1:*", "redis-b:*"]
        );
        assert_eq!(
            transport,
            &Transport::Tls {
                sni: Some("r.test".into()),
                verify: false
            }
        );
    }

    #[test]
    fn a_chain_needs_what_each_inner_filter_needs() {
        let chain = r#"{"filters": [
            {"name": "redis-rate-limiting", "config": {"minute": 5, "policy": "redis", "redis_port": 6390}},
            {"name": "redis-session", "config": {"storage": "redis", "redis": {"host": "::1", "port": 6391, "tunnel": "t2"}}},
            {"name": "redis-jwt", "config": {"consumers": []}}
        ]}"#;
        let uses = redis_targets("redis-chain", Some(chain));
        let seen: Vec<(String, Vec<String>)> = uses
            .iter()
            .map(|(t, targets, _)| (t.clone(), targets.iter().map(Target::domain).collect()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "redis_tunnel".to_string(),
                    vec!["127.0.0.1:6390".to_string()]
                ),
                ("t2".to_string(), vec!["[::1]:6391".to_string()])
            ]
        );
        assert!(redis_targets("redis-chain", None).is_empty());
        assert!(redis_targets("redis-chain", Some("not json")).is_empty());
    }

    #[test]
    fn a_filter_whose_config_does_not_reach_redis_lets_nothing_into_the_tunnel() {
        for (name, config) in [
            ("redis-rate-limiting", r#"{"minute": 5}"#),
            ("redis-proxy-cache", r#"{"strategy": "memory"}"#),
            ("redis-session", r#"{"secret": "s"}"#),
            ("redis-jwt", r#"{"consumers": []}"#),
            ("redis-chain-end", "{}"),
        ] {
            assert!(redis_targets(name, Some(config)).is_empty(), "{name}");
        }
        let jwt = r#"{"credentials_in_redis": true, "redis": {"port": 6392}}"#;
        assert_eq!(redis_targets("redis-jwt", Some(jwt)).len(), 1);
        // Another's filter: the Redis its config describes.
        assert_eq!(redis_targets("http-headers", Some("{}")).len(), 1);
    }

    #[test]
    fn redis_allow_is_host_port_or_host_star() {
        assert_eq!(
            Target::parse("[FD00::1]:*").unwrap().domain(),
            "[fd00::1]:*"
        );
        assert_eq!(Target::parse("h:6379").unwrap().domain(), "h:6379");
        for bad in ["h", "h:0", "h:x", ":1", "a b:1", "*:1"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
