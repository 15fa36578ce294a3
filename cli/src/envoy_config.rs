//! Renders a Kong kong.yml with filter chains as an equivalent Envoy config: services become
//! clusters, routes become routes, filter chains become Wasm filters enabled on their routes,
//! plus the RESP tunnel: an internal listener that turns a POST into raw TCP, reachable only from
//! inside Envoy and only towards the Redis nodes the filters may need (see `Target`).

use crate::escape::regex_literal;
use crate::kong_config::{FilterEntry, KongConfig, Route, Service};
use crate::set_field;
use crate::targets::{redis_targets, Target, Transport};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub struct EnvoyOptions<'a> {
    pub filters_path: &'a Path,
    pub listen: (String, u16),
    pub admin: Option<(String, u16)>,
    /// Tunnel targets beyond what the filters' configs name (`--redis-allow`), added to every
    /// tunnel: `host:port`, or `host:*` for any port of that host (e.g. the masters Sentinel
    /// reports on hosts other than the sentinels').
    pub redis_allow: Vec<String>,
    /// Proxies in front of Envoy whose X-Forwarded-For entry is trusted (`--xff-trusted-hops`);
    /// 0: the connection's peer is the client.
    pub xff_trusted_hops: u32,
    /// The CA bundle a TLS tunnel with `ssl_verify` checks Redis' certificates against
    /// (`--redis-ca`; else the system's).
    pub redis_ca: Option<std::path::PathBuf>,
    /// This project's filters as the Envoy dynamic module (`--native`): `libredis_filters.so`,
    /// found on `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`, instead of their .wasm files (other
    /// filters stay Wasm filters from `filters_path`).
    pub native: bool,
}

/// The system's CA bundle (Debian's ca-certificates), used without `--redis-ca`.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const WASM: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const DYNAMIC_MODULE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";
/// The dynamic module's name: Envoy loads `lib<name>.so`.
pub const NATIVE_MODULE: &str = "redis_filters";
const FILTER_CONFIG: &str = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
const DFP_FILTER: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";
const DFP_CLUSTER: &str =
    "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";
const HTTP_OPTIONS: &str =
    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const TLS: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

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

/// Kong's strip_path and service path, as an Envoy regex rewrite.
fn path_rewrite(service: &Service, route: &Route, prefix: &str) -> Option<Value> {
    let base = service.path.trim_end_matches('/');
    if route.strip_path && !prefix.is_empty() && prefix != "/" {
        let pattern = format!("^{}/?(.*)$", regex_literal(prefix.trim_end_matches('/')));
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
                let methods = route.methods.iter().map(|m| regex_literal(m)).collect::<Vec<_>>().join("|");
                set_field(&mut m, "headers", json!([{"name": ":method", "string_match": {"safe_regex": {"regex": format!("^({methods})$")}}}]));
            }
            let mut action = json!({"cluster": service.name, "host_rewrite_literal": format!("{}:{}", service.host, service.port), "timeout": "60s"});
            if let Some(rewrite) = path_rewrite(service, route, prefix) {
                set_field(&mut action, "regex_rewrite", rewrite);
            }
            json!({"name": format!("{}:{prefix}", route.name), "match": m, "route": action, "typed_per_filter_config": enabled})
        })
        .collect()
}

/// A target as a regex alternative over `:authority`. Envoy's prefix wildcard `host:*` matches
/// any suffix, and the forward proxy resolves an authority whose "port" is not a number as one
/// host name (`127.0.0.1:1.localhost` is loopback port 80): the route's `:authority` check keeps
/// a wildcard to a numeric port.
fn authority_pattern(target: &Target) -> String {
    let domain = target.domain();
    match target {
        Target::Node(_) => regex_literal(&domain),
        Target::AnyPort(_) => {
            format!(
                "{}[0-9]{{1,5}}",
                regex_literal(domain.trim_end_matches('*'))
            )
        }
    }
}

/// What a call of this transport carries (`redis_filter_core::transport::TlsAsk`): a route
/// matches only calls that ask for exactly this, so a call never goes out with less TLS than it
/// asked for (no route: 404).
fn header_matchers(transport: &Transport) -> Vec<Value> {
    let absent = |name: &str| json!({"name": name, "present_match": false});
    let exact = |name: &str, value: &str| json!({"name": name, "string_match": {"exact": value}});
    match transport {
        Transport::Plain => vec![absent("x-redis-tls")],
        Transport::Tls { sni, verify } => vec![
            exact("x-redis-tls", if *verify { "verify" } else { "on" }),
            match sni {
                Some(name) => exact("x-redis-server-name", name),
                None => absent("x-redis-server-name"),
            },
        ],
    }
}

/// Adds a target unless it is there already with this transport (two configs may reach one
/// node with different TLS: each call's route is chosen by what it asks, see `tunnel`).
fn add_target(list: &mut Vec<(Target, Transport)>, target: Target, transport: &Transport) {
    if !list
        .iter()
        .any(|(t, tr)| t.domain() == target.domain() && tr == transport)
    {
        list.push((target, transport.clone()));
    }
}

/// The tunnel `name`: an internal cluster towards an internal listener whose routes turn a POST
/// into raw TCP (CONNECT upgrade with `allow_post`) to the node in `:authority`, through the
/// dynamic forward proxy (one cluster per transport, one DNS cache shared with the HTTP
/// filter). One virtual host per transport lists the allowed domains; there is no catch-all,
/// so any other `:authority` gets a 404.
fn tunnel(name: &str, targets: &[(Target, Transport)], ca: &Path) -> (Value, Vec<Value>) {
    let dns_cache = json!({"name": name, "dns_lookup_family": "V4_PREFERRED"});
    let mut clusters = vec![json!({
        "name": name,
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": format!("{name}_listener")}}}}]}]}
    })];
    let mut transports: Vec<&Transport> = Vec::new();
    for (_, t) in targets {
        if !transports.contains(&t) {
            transports.push(t);
        }
    }
    let mut hosts: Vec<Value> = Vec::new();
    let mut claimed: Vec<(String, usize)> = Vec::new();
    let mut tls_count = 0;
    for transport in transports {
        let mut c = json!({
            "connect_timeout": "2s",
            "lb_policy": "CLUSTER_PROVIDED",
            "cluster_type": {"name": "envoy.clusters.dynamic_forward_proxy", "typed_config": {
                "@type": DFP_CLUSTER, "dns_cache_config": dns_cache}}
        });
        let cluster_name = match transport {
            Transport::Plain => format!("{name}_dfp"),
            Transport::Tls { sni, verify } => {
                tls_count += 1;
                let mut tls = json!({"@type": TLS});
                if let Some(sni) = sni {
                    set_field(&mut tls, "sni", json!(sni));
                }
                if *verify {
                    // `ssl_verify`: the chain against the CA bundle, and with `server_name`
                    // that name among the certificate's DNS names (as Kong's connector does).
                    let mut validation =
                        json!({"trusted_ca": {"filename": ca.display().to_string()}});
                    if let Some(sni) = sni {
                        set_field(
                            &mut validation,
                            "match_typed_subject_alt_names",
                            json!([{"san_type": "DNS", "matcher": {"exact": sni}}]),
                        );
                    }
                    set_field(
                        &mut tls,
                        "common_tls_context",
                        json!({"validation_context": validation}),
                    );
                }
                set_field(
                    &mut c,
                    "transport_socket",
                    json!({"name": "envoy.transport_sockets.tls", "typed_config": tls}),
                );
                // SNI from `server_name` only, the validation above only: the forward proxy
                // would otherwise turn on auto_sni and auto_san_validation (the node's address
                // as the name); turning them off needs allow_insecure_cluster_options.
                if let Some(dfp) = c.pointer_mut("/cluster_type/typed_config") {
                    set_field(dfp, "allow_insecure_cluster_options", json!(true));
                }
                set_field(
                    &mut c,
                    "typed_extension_protocol_options",
                    json!({
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": HTTP_OPTIONS,
                            "upstream_http_protocol_options": {"auto_sni": false, "auto_san_validation": false},
                            "explicit_http_config": {"http_protocol_options": {}}
                        }
                    }),
                );
                format!("{name}_dfp_tls_{}", tls_count - 1)
            }
        };
        set_field(&mut c, "name", json!(cluster_name));
        clusters.push(c);
        let mine: Vec<&Target> = targets
            .iter()
            .filter(|(_, t)| t == transport)
            .map(|(target, _)| target)
            .collect();
        // A domain an earlier transport's virtual host lists already (two configs reaching one
        // node with different TLS) gets a route there: Envoy refuses a domain twice.
        let (shared, own): (Vec<&Target>, Vec<&Target>) = mine
            .into_iter()
            .partition(|t| claimed.iter().any(|(d, _)| *d == t.domain()));
        let route = |targets: &[&Target]| {
            let authority = format!(
                "(?i)^({})$",
                targets
                    .iter()
                    .map(|t| authority_pattern(t))
                    .collect::<Vec<_>>()
                    .join("|")
            );
            let mut headers = vec![
                json!({"name": ":authority", "string_match": {"safe_regex": {"regex": authority}}}),
            ];
            headers.extend(header_matchers(transport));
            json!({
                "match": {"prefix": "/", "headers": headers},
                "route": {"cluster": cluster_name, "timeout": "0s",
                    "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {"allow_post": true}}]}
            })
        };
        for target in shared {
            if let Some((_, index)) = claimed.iter().find(|(d, _)| *d == target.domain()) {
                if let Some(routes) = hosts
                    .get_mut(*index)
                    .and_then(|h: &mut Value| h["routes"].as_array_mut())
                {
                    routes.push(route(&[target]));
                }
            }
        }
        if own.is_empty() {
            continue;
        }
        claimed.extend(own.iter().map(|t| (t.domain(), hosts.len())));
        hosts.push(json!({
            "name": cluster_name,
            "domains": own.iter().map(|t| t.domain()).collect::<Vec<_>>(),
            "routes": [route(&own)]
        }));
    }
    let dfp = json!({"name": "envoy.filters.http.dynamic_forward_proxy", "typed_config": {
        "@type": DFP_FILTER, "dns_cache_config": dns_cache}});
    let listener = json!({
        "name": format!("{name}_listener"),
        "internal_listener": {},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM, "stat_prefix": name, "route_config": {"name": name, "virtual_hosts": hosts}, "http_filters": [dfp, router()]
        }}]}]
    });
    (listener, clusters)
}

/// A filter as a Wasm filter: its module file, its config as the plugin configuration.
fn wasm_filter(f: &FilterEntry, name: &str, filters_path: &Path) -> Value {
    let code = filters_path.join(format!("{}.wasm", f.name));
    let mut wasm = json!({
        "name": name,
        "root_id": f.origin,
        "vm_config": {"vm_id": f.name, "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": code.to_string_lossy()}}}
    });
    if let Some(c) = &f.config {
        set_field(
            &mut wasm,
            "configuration",
            json!({"@type": STRING_VALUE, "value": c}),
        );
    }
    json!({"@type": WASM, "config": wasm})
}

/// A filter as the dynamic module's: picked by its Kong name, its config the same JSON (a
/// StringValue: a Struct would reach the module with its keys reordered and its numbers as
/// doubles), its counters under `wasmcustom.` as the Wasm filter's are.
fn native_filter(f: &FilterEntry) -> Value {
    let config = f.config.clone().unwrap_or_else(|| "{}".to_string());
    json!({
        "@type": DYNAMIC_MODULE,
        "dynamic_module_config": {"name": NATIVE_MODULE, "do_not_close": true, "metrics_namespace": "wasmcustom"},
        "filter_name": f.name,
        "filter_config": {"@type": STRING_VALUE, "value": config},
    })
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
    let mut tunnels: BTreeMap<String, Vec<(Target, Transport)>> = BTreeMap::new();
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
        // The dynamic module carries this project's filters; any other (a filter of the user's
        // own) stays a Wasm filter beside them.
        let typed_config = if opts.native && crate::filter_check::parser(&f.name).is_some() {
            native_filter(f)
        } else {
            wasm_filter(f, &name, opts.filters_path)
        };
        filters.push(json!({"name": name, "disabled": true, "typed_config": typed_config}));
        for (tunnel_name, targets, transport) in redis_targets(&f.name, f.config.as_deref()) {
            let list = tunnels.entry(tunnel_name).or_default();
            for t in targets {
                add_target(list, t, &transport);
            }
        }
    }
    let allow = opts
        .redis_allow
        .iter()
        .map(|a| Target::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    if !allow.is_empty() && tunnels.is_empty() {
        return Err("--redis-allow given, but no filter config names a Redis node".into());
    }
    for list in tunnels.values_mut() {
        // Reached like the nodes of the tunnel's first config.
        let Some((_, transport)) = list.first().cloned() else {
            continue;
        };
        for t in &allow {
            add_target(list, t.clone(), &transport);
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
    // The client address (`source.address`, what `limit_by: ip` counts) is the connection's
    // peer, never a header a client can forge, unless the operator trusts that many proxies in
    // front (Kong's `trusted_ips`): then the address they append to X-Forwarded-For counts.
    let main = json!({
        "name": "main",
        "address": socket(&opts.listen.0, opts.listen.1),
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM, "stat_prefix": "ingress", "route_config": {"name": "kong", "virtual_hosts": virtual_hosts}, "http_filters": filters,
            "use_remote_address": true, "xff_num_trusted_hops": opts.xff_trusted_hops
        }}]}]
    });
    let mut listeners = vec![main];
    for (name, targets) in &tunnels {
        let ca = opts
            .redis_ca
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(SYSTEM_CA));
        let (listener, tunnel_clusters) = tunnel(name, targets, &ca);
        listeners.push(listener);
        clusters.extend(tunnel_clusters);
    }
    let mut out = json!({
        "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
        "static_resources": {"listeners": listeners, "clusters": clusters}
    });
    if let Some((host, port)) = &opts.admin {
        set_field(&mut out, "admin", json!({"address": socket(host, *port)}));
    }
    Ok(out)
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

    fn render_with(yaml: &str, redis_allow: &[&str]) -> Result<Value, String> {
        render_build(yaml, redis_allow, false)
    }

    fn render_build(yaml: &str, redis_allow: &[&str], native: bool) -> Result<Value, String> {
        let config = KongConfig::parse(yaml).unwrap();
        let opts = EnvoyOptions {
            filters_path: Path::new("/f"),
            listen: ("0.0.0.0".into(), 8000),
            admin: None,
            redis_allow: redis_allow.iter().map(|s| s.to_string()).collect(),
            xff_trusted_hops: 0,
            redis_ca: None,
            native,
        };
        render(&config, &opts)
    }

    #[test]
    fn native_renders_our_filters_as_the_dynamic_module_and_others_as_wasm() {
        let yaml = YAML.replace(
            "        config: {\"minute\": 5, \"policy\": \"redis\", \"redis_port\": 6380}\n",
            "        config: {\"minute\": 5, \"policy\": \"redis\", \"redis_port\": 6380}\n      - name: my-own-filter\n",
        );
        assert!(yaml.contains("my-own-filter"), "{yaml}");
        let v = render_build(&yaml, &[], true).unwrap();
        let hcm = &v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let ours = &hcm["http_filters"][0]["typed_config"];
        assert_eq!(ours["@type"], DYNAMIC_MODULE);
        assert_eq!(ours["dynamic_module_config"]["name"], NATIVE_MODULE);
        assert_eq!(
            ours["dynamic_module_config"]["metrics_namespace"], "wasmcustom",
            "the counters keep the Wasm filters' names"
        );
        assert_eq!(ours["filter_name"], "redis-rate-limiting");
        let config = ours["filter_config"]["value"].as_str().unwrap();
        assert!(
            config.contains("\"redis_port\":6380") || config.contains("6380"),
            "{config}"
        );
        let theirs = &hcm["http_filters"][1]["typed_config"];
        assert_eq!(theirs["@type"], WASM);
        assert_eq!(
            theirs["config"]["vm_config"]["code"]["local"]["filename"],
            "/f/my-own-filter.wasm"
        );
    }

    fn rendered() -> Value {
        render_with(YAML, &[]).unwrap()
    }

    /// A kong.yml with one filter use per config.
    fn with_configs(configs: &[&str]) -> String {
        let mut yaml = String::from(
            "_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://127.0.0.1:9000\n  routes:\n  - name: r\n    paths: [/]\n    filter_chains:\n    - filters:\n",
        );
        for c in configs {
            yaml.push_str(&format!(
                "      - name: redis-rate-limiting\n        config: {c}\n"
            ));
        }
        yaml
    }

    fn tunnel_listener(v: &Value) -> &Value {
        let listeners = v["static_resources"]["listeners"].as_array().unwrap();
        listeners
            .iter()
            .find(|l| l["name"] == "redis_tunnel_listener")
            .unwrap()
    }

    /// The tunnel's virtual hosts as (name, domains, :authority regex, cluster).
    fn tunnel_hosts(v: &Value) -> Vec<(String, Vec<String>, String, String)> {
        let hcm = &tunnel_listener(v)["filter_chains"][0]["filters"][0]["typed_config"];
        hcm["route_config"]["virtual_hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let route = &h["routes"][0];
                (
                    h["name"].as_str().unwrap().to_string(),
                    h["domains"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_str().unwrap().to_string())
                        .collect(),
                    route["match"]["headers"][0]["string_match"]["safe_regex"]["regex"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    route["route"]["cluster"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn cluster_named<'v>(v: &'v Value, name: &str) -> &'v Value {
        v["static_resources"]["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no cluster {name}"))
    }

    const CLUSTER: &str = r#"{"minute": 5, "policy": "redis", "redis": {"cluster_nodes": [{"ip": "127.0.0.1", "port": 7000}, {"ip": "127.0.0.1", "port": 7001}, {"ip": "Redis-B.internal", "port": 7000}]}}"#;
    const SENTINEL: &str = r#"{"minute": 5, "policy": "redis", "redis": {"sentinel_master": "m", "sentinel_role": "master", "sentinel_nodes": [{"host": "10.0.0.1", "port": 26379}, {"host": "::1", "port": 26379}]}}"#;

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
        let tunnel = tunnel_listener(&v);
        let hcm = &tunnel["filter_chains"][0]["filters"][0]["typed_config"];
        let hosts = tunnel_hosts(&v);
        assert_eq!(
            hosts,
            vec![(
                "redis_tunnel_dfp".to_string(),
                vec!["127.0.0.1:6380".to_string()],
                r"(?i)^(127\.0\.0\.1:6380)$".to_string(),
                "redis_tunnel_dfp".to_string()
            )],
            "a standalone node exactly, no other port, no catch-all"
        );
        let route = &hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
        assert_eq!(
            route["upgrade_configs"][0]["connect_config"]["allow_post"],
            true
        );
        // The forward proxy: the HTTP filter and the cluster share one DNS cache.
        let filter = &hcm["http_filters"][0];
        assert_eq!(filter["name"], "envoy.filters.http.dynamic_forward_proxy");
        assert_eq!(hcm["http_filters"][1]["name"], "envoy.filters.http.router");
        let dfp = cluster_named(&v, "redis_tunnel_dfp");
        assert_eq!(dfp["lb_policy"], "CLUSTER_PROVIDED");
        assert_eq!(
            dfp["cluster_type"]["name"],
            "envoy.clusters.dynamic_forward_proxy"
        );
        assert_eq!(
            dfp["cluster_type"]["typed_config"]["dns_cache_config"],
            filter["typed_config"]["dns_cache_config"]
        );
        assert!(dfp.get("transport_socket").is_none());
        let internal = cluster_named(&v, "redis_tunnel");
        assert_eq!(
            internal["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["envoy_internal_address"]["server_listener_name"],
            "redis_tunnel_listener"
        );
    }

    #[test]
    fn a_cluster_config_allows_its_seeds_and_any_port_of_their_hosts() {
        let v = render_with(&with_configs(&[CLUSTER]), &[]).unwrap();
        let hosts = tunnel_hosts(&v);
        assert_eq!(hosts.len(), 1);
        assert_eq!(
            hosts[0].1,
            [
                "127.0.0.1:7000",
                "127.0.0.1:7001",
                "redis-b.internal:7000",
                "127.0.0.1:*",
                "redis-b.internal:*"
            ]
        );
        assert_eq!(
            hosts[0].2,
            r"(?i)^(127\.0\.0\.1:7000|127\.0\.0\.1:7001|redis-b\.internal:7000|127\.0\.0\.1:[0-9]{1,5}|redis-b\.internal:[0-9]{1,5})$"
        );
    }

    #[test]
    fn a_sentinel_config_allows_the_sentinels_and_any_port_of_their_hosts() {
        let v = render_with(&with_configs(&[SENTINEL]), &[]).unwrap();
        let hosts = tunnel_hosts(&v);
        assert_eq!(
            hosts[0].1,
            ["10.0.0.1:26379", "[::1]:26379", "10.0.0.1:*", "[::1]:*"]
        );
        assert!(
            hosts[0]
                .2
                .ends_with(r"|10\.0\.0\.1:[0-9]{1,5}|\[::1\]:[0-9]{1,5})$"),
            "{}",
            hosts[0].2
        );
    }

    #[test]
    fn a_standalone_config_next_to_a_cluster_one_adds_only_its_node() {
        let standalone =
            r#"{"minute": 5, "policy": "redis", "redis": {"host": "10.5.5.5", "port": 6379}}"#;
        let v = render_with(&with_configs(&[standalone, CLUSTER]), &[]).unwrap();
        let domains = &tunnel_hosts(&v)[0].1;
        assert_eq!(domains[0], "10.5.5.5:6379");
        assert!(!domains.contains(&"10.5.5.5:*".to_string()));
        assert!(domains.contains(&"127.0.0.1:*".to_string()));
    }

    #[test]
    fn redis_allow_adds_nodes_and_hosts_to_every_tunnel() {
        let other =
            r#"{"minute": 5, "policy": "redis", "redis": {"port": 6390, "tunnel": "other"}}"#;
        let v = render_with(
            &with_configs(&[other, YAML_PLAIN]),
            &[
                "10.9.9.9:6379",
                "Redis.Example:*",
                "[fd00::1]:7000",
                "127.0.0.1:6379",
            ],
        )
        .unwrap();
        let listeners = v["static_resources"]["listeners"].as_array().unwrap();
        assert_eq!(listeners.len(), 3, "main and two tunnels");
        let hosts = tunnel_hosts(&v);
        assert_eq!(
            hosts[0].1,
            [
                "127.0.0.1:6379",
                "10.9.9.9:6379",
                "redis.example:*",
                "[fd00::1]:7000"
            ],
            "a given node that is configured already appears once"
        );
        assert!(hosts[0].2.contains(r"|redis\.example:[0-9]{1,5}|"));
        let other = listeners
            .iter()
            .find(|l| l["name"] == "other_listener")
            .unwrap();
        let domains = &other["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
            ["virtual_hosts"][0]["domains"];
        assert_eq!(
            domains,
            &json!([
                "127.0.0.1:6390",
                "10.9.9.9:6379",
                "redis.example:*",
                "[fd00::1]:7000",
                "127.0.0.1:6379"
            ])
        );
    }

    #[test]
    fn redis_allow_takes_only_host_port_or_host_star() {
        for bad in [
            "10.9.9.9", "*:6379", "h:abc", "h:0", ":6379", "h:70000", "a b:1",
        ] {
            let e = render_with(YAML, &[bad]).unwrap_err();
            assert!(e.contains("--redis-allow"), "{bad}: {e}");
        }
        let no_redis =
            "_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://127.0.0.1:9000\n";
        let e = render_with(no_redis, &["10.9.9.9:6379"]).unwrap_err();
        assert!(e.contains("no filter config names a Redis node"), "{e}");
        assert!(render_with(no_redis, &[]).is_ok());
    }

    #[test]
    fn tls_nodes_go_through_their_own_forward_proxy_cluster() {
        let tls = r#"{"minute": 5, "policy": "redis", "redis": {"cluster_nodes": [{"ip": "10.1.1.1", "port": 7000}], "ssl": true, "server_name": "redis.example"}}"#;
        let v = render_with(&with_configs(&[YAML_PLAIN, tls]), &["10.7.7.7:*"]).unwrap();
        let hosts = tunnel_hosts(&v);
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].0, "redis_tunnel_dfp");
        assert_eq!(hosts[0].1, ["127.0.0.1:6379", "10.7.7.7:*"]);
        assert_eq!(hosts[1].0, "redis_tunnel_dfp_tls_0");
        assert_eq!(hosts[1].1, ["10.1.1.1:7000", "10.1.1.1:*"]);
        assert_eq!(hosts[1].3, "redis_tunnel_dfp_tls_0");
        let c = cluster_named(&v, "redis_tunnel_dfp_tls_0");
        assert_eq!(
            c["transport_socket"]["typed_config"]["sni"],
            "redis.example"
        );
        assert_eq!(
            c["cluster_type"]["typed_config"]["allow_insecure_cluster_options"],
            true
        );
        let opts = &c["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            ["upstream_http_protocol_options"];
        assert_eq!(opts["auto_san_validation"], false);
        assert_eq!(opts["auto_sni"], false);
        assert_eq!(
            c["cluster_type"]["typed_config"]["dns_cache_config"],
            cluster_named(&v, "redis_tunnel_dfp")["cluster_type"]["typed_config"]
                ["dns_cache_config"]
        );
    }

    #[test]
    fn one_node_reached_with_and_without_tls_gets_a_route_per_transport() {
        let tls = r#"{"minute": 5, "policy": "redis", "redis": {"ssl": true, "ssl_verify": true, "server_name": "r.test"}}"#;
        let v = render_with(&with_configs(&[YAML_PLAIN, tls]), &[]).unwrap();
        let hcm = |name: &str| {
            let listeners = v["static_resources"]["listeners"].as_array().unwrap();
            let l = listeners.iter().find(|l| l["name"] == name).unwrap();
            l["filter_chains"][0]["filters"][0]["typed_config"].clone()
        };
        let tunnel = hcm("redis_tunnel_listener");
        let hosts = tunnel["route_config"]["virtual_hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1, "one domain, one virtual host");
        let routes = hosts[0]["routes"].as_array().unwrap();
        let clusters: Vec<&str> = routes
            .iter()
            .map(|r| r["route"]["cluster"].as_str().unwrap())
            .collect();
        assert_eq!(clusters, ["redis_tunnel_dfp", "redis_tunnel_dfp_tls_0"]);
        let headers = |i: usize| routes[i]["match"]["headers"].to_string();
        assert!(headers(0).contains(r#""name":"x-redis-tls","present_match":false"#));
        assert!(
            headers(1).contains(r#""exact":"verify""#)
                && headers(1).contains(r#""exact":"r.test""#)
        );
        let tls = &cluster_named(&v, "redis_tunnel_dfp_tls_0")["transport_socket"]["typed_config"];
        let validation = &tls["common_tls_context"]["validation_context"];
        assert_eq!(validation["trusted_ca"]["filename"], SYSTEM_CA);
        assert_eq!(
            validation["match_typed_subject_alt_names"][0]["matcher"]["exact"],
            "r.test"
        );
    }

    const YAML_PLAIN: &str = r#"{"minute": 5, "policy": "redis"}"#;
}
