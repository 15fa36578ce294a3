//! Renders a Kong kong.yml with filter chains as an equivalent Envoy config: services become
//! clusters, routes become routes, filter chains become Wasm filters enabled on their routes,
//! plus the RESP tunnel: an internal listener that turns a POST into raw TCP, reachable only from
//! inside Envoy and only towards the Redis nodes the filters are configured with.

use crate::kong_config::{FilterEntry, KongConfig, Route, Service};
use redis_filter_core::config::{NodeAddr, RedisMode};
use redis_filter_core::{Fields, RedisConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub struct EnvoyOptions<'a> {
    pub filters_path: &'a Path,
    pub listen: (String, u16),
    pub admin: Option<(String, u16)>,
}

const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const WASM: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const FILTER_CONFIG: &str = "type.googleapis.com/envoy.config.route.v3.FilterConfig";

fn socket(host: &str, port: u16) -> Value {
    json!({"socket_address": {"address": host, "port_value": port}})
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

fn cluster(name: &str, host: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": if is_ip(host) { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(host, port)}}]}]}
    })
}

fn router() -> Value {
    json!({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}})
}

/// The Envoy name of one filter use: unique per chain position.
fn filter_name(f: &FilterEntry) -> String {
    format!("{}@{}", f.name, f.origin)
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// Kong's strip_path and service path, as an Envoy regex rewrite.
fn path_rewrite(service: &Service, route: &Route, prefix: &str) -> Option<Value> {
    let base = service.path.trim_end_matches('/');
    if route.strip_path && !prefix.is_empty() && prefix != "/" {
        let pattern = format!("^{}/?(.*)$", regex_escape(prefix.trim_end_matches('/')));
        return Some(json!({"pattern": {"regex": pattern}, "substitution": format!("{base}/\\1")}));
    }
    (!base.is_empty())
        .then(|| json!({"pattern": {"regex": "^(.*)$"}, "substitution": format!("{base}\\1")}))
}

fn route_entries(service: &Service, route: &Route) -> Vec<Value> {
    let prefixes: Vec<&str> = if route.paths.is_empty() {
        vec!["/"]
    } else {
        route.paths.iter().map(String::as_str).collect()
    };
    let enabled: BTreeMap<String, Value> = service
        .filters
        .iter()
        .chain(route.filters.iter())
        .map(|f| {
            (
                filter_name(f),
                json!({"@type": FILTER_CONFIG, "config": {}}),
            )
        })
        .collect();
    prefixes
        .into_iter()
        .map(|prefix| {
            let mut m = json!({"prefix": prefix});
            if !route.methods.is_empty() {
                let methods = route.methods.iter().map(|m| regex_escape(m)).collect::<Vec<_>>().join("|");
                m["headers"] = json!([{"name": ":method", "string_match": {"safe_regex": {"regex": format!("^({methods})$")}}}]);
            }
            let mut action = json!({"cluster": service.name, "host_rewrite_literal": format!("{}:{}", service.host, service.port), "timeout": "60s"});
            if let Some(rewrite) = path_rewrite(service, route, prefix) {
                action["regex_rewrite"] = rewrite;
            }
            json!({"name": format!("{}:{prefix}", route.name), "match": m, "route": action, "typed_per_filter_config": enabled})
        })
        .collect()
}

/// The Redis nodes a filter's config names (standalone, sentinels, cluster seeds), by tunnel.
fn redis_nodes(config: Option<&str>) -> Option<(String, Vec<NodeAddr>, bool, Option<String>)> {
    let value: Value = serde_json::from_str(config?).ok()?;
    let mut top = Fields::new("", &value).ok()?;
    let redis = RedisConfig::from_plugin_config(&mut top).ok()?;
    let nodes = match &redis.mode {
        RedisMode::Standalone(n) => vec![n.clone()],
        RedisMode::Sentinel { nodes, .. } | RedisMode::Cluster { nodes, .. } => nodes.clone(),
    };
    Some((redis.tunnel, nodes, redis.ssl, redis.server_name))
}

fn tunnel(name: &str, nodes: &[(NodeAddr, bool, Option<String>)]) -> (Value, Vec<Value>) {
    let mut clusters = vec![json!({
        "name": name,
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": format!("{name}_listener")}}}}]}]}
    })];
    let mut hosts = Vec::new();
    for (i, (node, ssl, sni)) in nodes.iter().enumerate() {
        let cluster_name = format!("{name}_node_{i}");
        let mut c = cluster(&cluster_name, &node.host, node.port);
        if *ssl {
            let mut tls = json!({"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"});
            if let Some(sni) = sni {
                tls["sni"] = json!(sni);
            }
            c["transport_socket"] =
                json!({"name": "envoy.transport_sockets.tls", "typed_config": tls});
        }
        clusters.push(c);
        // Only a configured node's `host:port` matches; any other :authority gets a 404.
        hosts.push(json!({
            "name": format!("node_{i}"),
            "domains": [node.to_string()],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster_name, "timeout": "0s",
                "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {"allow_post": true}}]}}]
        }));
    }
    let listener = json!({
        "name": format!("{name}_listener"),
        "internal_listener": {},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM, "stat_prefix": name, "route_config": {"name": name, "virtual_hosts": hosts}, "http_filters": [router()]
        }}]}]
    });
    (listener, clusters)
}

pub fn render(config: &KongConfig, opts: &EnvoyOptions) -> Result<Value, String> {
    let mut clusters: Vec<Value> = config
        .services
        .iter()
        .map(|s| cluster(&s.name, &s.host, s.port))
        .collect();
    // Filters in chain order of first appearance; each disabled unless its route enables it.
    let mut filters: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    let mut tunnels: BTreeMap<String, Vec<(NodeAddr, bool, Option<String>)>> = BTreeMap::new();
    let all_entries = config.services.iter().flat_map(|s| {
        s.filters
            .iter()
            .chain(s.routes.iter().flat_map(|r| r.filters.iter()))
    });
    for f in all_entries {
        let name = filter_name(f);
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let code = opts.filters_path.join(format!("{}.wasm", f.name));
        let mut wasm = json!({
            "name": name,
            "root_id": f.origin,
            "vm_config": {"vm_id": f.name, "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": code.to_string_lossy()}}}
        });
        if let Some(c) = &f.config {
            wasm["configuration"] =
                json!({"@type": "type.googleapis.com/google.protobuf.StringValue", "value": c});
        }
        filters.push(json!({"name": name, "disabled": true, "typed_config": {"@type": WASM, "config": wasm}}));
        if let Some((tunnel_name, nodes, ssl, sni)) = redis_nodes(f.config.as_deref()) {
            let list = tunnels.entry(tunnel_name).or_default();
            for n in nodes {
                if !list.iter().any(|(m, ..)| *m == n) {
                    list.push((n, ssl, sni.clone()));
                }
            }
        }
    }
    filters.push(router());
    // Kong picks the longest matching prefix: Envoy takes the first match, so longest first.
    let mut by_hosts: BTreeMap<Vec<String>, Vec<(usize, Value)>> = BTreeMap::new();
    for s in &config.services {
        for r in &s.routes {
            let longest = r.paths.iter().map(String::len).max().unwrap_or(0);
            by_hosts
                .entry(r.hosts.clone())
                .or_default()
                .extend(route_entries(s, r).into_iter().map(|e| (longest, e)));
        }
    }
    let virtual_hosts: Vec<Value> = by_hosts
        .into_iter()
        .enumerate()
        .map(|(i, (hosts, mut routes))| {
            routes.sort_by_key(|r| std::cmp::Reverse(r.0));
            let domains = if hosts.is_empty() { vec!["*".to_string()] } else { hosts.iter().flat_map(|h| [h.clone(), format!("{h}:*")]).collect() };
            json!({"name": format!("vhost_{i}"), "domains": domains, "routes": routes.into_iter().map(|(_, r)| r).collect::<Vec<_>>()})
        })
        .collect();
    let main = json!({
        "name": "main",
        "address": socket(&opts.listen.0, opts.listen.1),
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM, "stat_prefix": "ingress", "route_config": {"name": "kong", "virtual_hosts": virtual_hosts}, "http_filters": filters
        }}]}]
    });
    let mut listeners = vec![main];
    for (name, nodes) in &tunnels {
        let (listener, tunnel_clusters) = tunnel(name, nodes);
        listeners.push(listener);
        clusters.extend(tunnel_clusters);
    }
    let mut out = json!({
        "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
        "static_resources": {"listeners": listeners, "clusters": clusters}
    });
    if let Some((host, port)) = &opts.admin {
        out["admin"] = json!({"address": socket(host, *port)});
    }
    Ok(out)
}

/// `host:port` to its parts.
pub fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?}: expected host:port"))?;
    let port = port.parse().map_err(|_| format!("{addr:?}: bad port"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
_format_version: "3.0"
services:
- name: api
  url: http://127.0.0.1:9000/base
  routes:
  - name: r1
    paths: [/v1]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5, "policy": "redis", "redis_port": 6380}
  - name: r2
    paths: [/v1/long]
    methods: [GET]
"#;

    fn rendered() -> Value {
        let config = KongConfig::parse(YAML).unwrap();
        let opts = EnvoyOptions {
            filters_path: Path::new("/f"),
            listen: ("0.0.0.0".into(), 8000),
            admin: None,
        };
        render(&config, &opts).unwrap()
    }

    #[test]
    fn services_routes_and_filters() {
        let v = rendered();
        let main = &v["static_resources"]["listeners"][0];
        let hcm = &main["filter_chains"][0]["filters"][0]["typed_config"];
        let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
            .as_array()
            .unwrap();
        assert_eq!(
            routes[0]["match"]["prefix"], "/v1/long",
            "longest prefix first"
        );
        assert_eq!(
            routes[1]["route"]["regex_rewrite"]["substitution"],
            "/base/\\1"
        );
        let wasm = &hcm["http_filters"][0];
        assert_eq!(wasm["disabled"], true);
        let name = wasm["name"].as_str().unwrap();
        assert!(
            routes[1]["typed_per_filter_config"][name].is_object(),
            "enabled on its route"
        );
        assert!(routes[0]["typed_per_filter_config"]
            .as_object()
            .unwrap()
            .is_empty());
        assert_eq!(
            wasm["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"],
            "/f/redis-rate-limiting.wasm"
        );
    }

    #[test]
    fn the_tunnel_reaches_only_configured_nodes() {
        let v = rendered();
        let tunnel = &v["static_resources"]["listeners"][1];
        assert_eq!(tunnel["name"], "redis_tunnel_listener");
        let hosts = &tunnel["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
            ["virtual_hosts"];
        assert_eq!(hosts.as_array().unwrap().len(), 1);
        assert_eq!(hosts[0]["domains"][0], "127.0.0.1:6380");
        assert_eq!(
            hosts[0]["routes"][0]["route"]["upgrade_configs"][0]["connect_config"]["allow_post"],
            true
        );
    }
}
