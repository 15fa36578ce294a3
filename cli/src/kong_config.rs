//! Kong's declarative configuration (`_format_version: "3.0"`): services, routes and their
//! `filter_chains`, as much of it as a gateway needs to route requests and run filters (the
//! harness serves it) and as the renderers and `check` read.

use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct KongConfig {
    pub services: Vec<Service>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub protocol: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub routes: Vec<Route>,
    pub filters: Vec<FilterEntry>,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub id: String,
    pub name: String,
    pub paths: Vec<String>,
    pub hosts: Vec<String>,
    pub methods: Vec<String>,
    pub strip_path: bool,
    pub filters: Vec<FilterEntry>,
}

/// One enabled filter of a chain: the `.wasm` module name and its config as the string the
/// filter's `on_configure` receives.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterEntry {
    pub name: String,
    pub config: Option<String>,
    /// Where it was declared (`service:name/chain0/0`), also the root id.
    pub origin: String,
    /// Where it is in the kong.yml, as a path of its keys and indexes
    /// (`services[0].routes[1].filter_chains[0].filters[2]`): what a problem with it names.
    pub path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "_format_version")]
    format_version: String,
    #[serde(rename = "_transform", default)]
    _transform: Option<bool>,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    filter_chains: Vec<RawChain>,
}

#[derive(Deserialize)]
struct RawService {
    id: Option<String>,
    name: Option<String>,
    url: Option<String>,
    protocol: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    path: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    filter_chains: Vec<RawChain>,
    #[serde(flatten)]
    _other: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct RawRoute {
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    strip_path: Option<bool>,
    service: Option<Value>,
    #[serde(default)]
    filter_chains: Vec<RawChain>,
    #[serde(flatten)]
    _other: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct RawChain {
    name: Option<String>,
    enabled: Option<bool>,
    #[serde(default)]
    filters: Vec<RawFilter>,
    service: Option<Value>,
    route: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    name: String,
    config: Option<Value>,
    enabled: Option<bool>,
}

impl KongConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if !raw.format_version.starts_with('3') {
            return Err(format!(
                "_format_version {:?} is not supported (use \"3.0\")",
                raw.format_version
            ));
        }
        let mut services = Vec::new();
        for (i, s) in raw.services.into_iter().enumerate() {
            services.push(service(s, i)?);
        }
        for (i, r) in raw.routes.into_iter().enumerate() {
            let at = format!("routes[{i}]");
            let reference = r
                .service
                .clone()
                .ok_or(format!("{at}: a top-level route needs `service`"))?;
            let target = find_service(&mut services, &reference)?;
            let index = target.routes.len();
            let route = route(r, &target.name, index, &at)?;
            target.routes.push(route);
        }
        for (i, chain) in raw.filter_chains.into_iter().enumerate() {
            let origin = format!("filter_chains[{i}]");
            let entries = chain_filters(&chain, &origin, &origin)?;
            match (&chain.service, &chain.route) {
                (Some(s), None) => find_service(&mut services, s)?.filters.extend(entries),
                (None, Some(r)) => find_route(&mut services, r)?.filters.extend(entries),
                _ => {
                    return Err(format!(
                        "{origin}: give exactly one of `service` or `route`"
                    ))
                }
            }
        }
        Ok(Self { services })
    }
}

fn reference_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn find_service<'a>(services: &'a mut [Service], v: &Value) -> Result<&'a mut Service, String> {
    let key = reference_key(v).ok_or("bad service reference")?;
    services
        .iter_mut()
        .find(|s| s.name == key || s.id == key)
        .ok_or(format!("unknown service {key:?}"))
}

fn find_route<'a>(services: &'a mut [Service], v: &Value) -> Result<&'a mut Route, String> {
    let key = reference_key(v).ok_or("bad route reference")?;
    services
        .iter_mut()
        .flat_map(|s| s.routes.iter_mut())
        .find(|r| r.name == key || r.id == key)
        .ok_or(format!("unknown route {key:?}"))
}

fn service(s: RawService, index: usize) -> Result<Service, String> {
    let name = s.name.unwrap_or_else(|| format!("service-{index}"));
    let (mut protocol, mut host, mut port, mut path) = ("http".to_string(), None, None, None);
    if let Some(url) = &s.url {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(format!("service {name}: bad url {url:?}"))?;
        protocol = scheme.to_string();
        let (authority, p) = match rest.find('/').and_then(|i| rest.split_at_checked(i)) {
            Some((authority, p)) => (authority, Some(p.to_string())),
            None => (rest, None),
        };
        let (h, prt) = match authority.rsplit_once(':') {
            Some((h, prt)) => (
                h,
                Some(
                    prt.parse::<u16>()
                        .map_err(|_| format!("service {name}: bad port in {url:?}"))?,
                ),
            ),
            None => (authority, None),
        };
        host = Some(h.to_string());
        port = prt;
        path = p;
    }
    if let Some(p) = s.protocol {
        protocol = p;
    }
    let host = s
        .host
        .or(host)
        .ok_or(format!("service {name}: needs `url` or `host`"))?;
    let default_port = if protocol == "https" { 443 } else { 80 };
    let port = s.port.or(port).unwrap_or(default_port);
    let path = s.path.or(path).unwrap_or_default();
    let id = s.id.unwrap_or_else(|| uuid_from_name("services", &name));
    let at = format!("services[{index}]");
    let mut routes = Vec::new();
    for (i, r) in s.routes.into_iter().enumerate() {
        routes.push(route(r, &name, i, &format!("{at}.routes[{i}]"))?);
    }
    let filters = nested_chains(&s.filter_chains, &format!("service:{name}"), &at)?;
    Ok(Service {
        id,
        name,
        protocol,
        host,
        port,
        path,
        routes,
        filters,
    })
}

/// A route, the `index`th of its service's; `at` is its path in the file.
fn route(r: RawRoute, service: &str, index: usize, at: &str) -> Result<Route, String> {
    let name = r.name.unwrap_or_else(|| format!("{service}-route-{index}"));
    let id = r.id.unwrap_or_else(|| uuid_from_name("routes", &name));
    let filters = nested_chains(&r.filter_chains, &format!("route:{name}"), at)?;
    Ok(Route {
        id,
        name,
        paths: r.paths,
        hosts: r.hosts,
        methods: r
            .methods
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect(),
        strip_path: r.strip_path.unwrap_or(true),
        filters,
    })
}

/// The enabled filters of the `filter_chains` of a service or route (`owner`, as the root ids
/// name it: `route:NAME`), which is at `at` in the file.
fn nested_chains(chains: &[RawChain], owner: &str, at: &str) -> Result<Vec<FilterEntry>, String> {
    let mut filters = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        let origin = format!("{owner}/chain{i}");
        filters.extend(chain_filters(
            chain,
            &origin,
            &format!("{at}.filter_chains[{i}]"),
        )?);
    }
    Ok(filters)
}

/// The enabled filters of a chain declared at `origin` (the root id's stem) and at `at` (its
/// path in the file).
fn chain_filters(chain: &RawChain, origin: &str, at: &str) -> Result<Vec<FilterEntry>, String> {
    if chain.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let origin = match &chain.name {
        Some(n) => format!("{origin}:{n}"),
        None => origin.to_string(),
    };
    let mut out = Vec::new();
    for (i, f) in chain.filters.iter().enumerate() {
        if f.enabled == Some(false) {
            continue;
        }
        let config = match &f.config {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                Some(serde_json::to_string(other).map_err(|e| format!("{at}.filters[{i}]: {e}"))?)
            }
        };
        out.push(FilterEntry {
            name: f.name.clone(),
            config,
            origin: format!("{origin}/{i}"),
            path: format!("{at}.filters[{i}]"),
        });
    }
    Ok(out)
}

/// The id Kong gives an entity declared without `id` in a declarative config (dbless): a UUID v5
/// of its name in its table's namespace (`services`, `routes`), itself a UUID v5 of the table's
/// name under Kong's fixed root (kong/db/schema/others/declarative_config.lua at 3.9.3). So keys
/// built from route and service ids (rate limiting, proxy-cache) are Kong's for the same kong.yml
/// and survive a restart; Kong 3.9.3 gave the demo's route `catalog`
/// 5d075dd8-5d8d-5acc-bb89-567ce42033dc.
pub fn uuid_from_name(table: &str, name: &str) -> String {
    const ROOT: [u8; 16] = [
        0xfd, 0x02, 0x80, 0x1f, 0x09, 0x57, 0x4a, 0x15, 0xa5, 0x5a, 0xc8, 0xd9, 0x60, 0x6f, 0x30,
        0xb5,
    ];
    let b = uuid_v5(&uuid_v5(&ROOT, table), name);
    let hex = |bytes: std::ops::Range<usize>| -> String {
        let bytes = b.get(bytes).unwrap_or_default();
        bytes.iter().map(|x| format!("{x:02x}")).collect()
    };
    format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// RFC 4122's name-based UUID (SHA-1), as bytes.
fn uuid_v5(namespace: &[u8; 16], name: &str) -> [u8; 16] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(namespace);
    sha.update(name.as_bytes());
    let mut b = [0u8; 16];
    for (to, from) in b.iter_mut().zip(sha.digest().bytes()) {
        *to = from;
    }
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_entities_without_one_are_kongs() {
        // Read off Kong 3.9.3's Admin API for the demo's kong.yml.
        assert_eq!(
            uuid_from_name("routes", "catalog"),
            "5d075dd8-5d8d-5acc-bb89-567ce42033dc"
        );
    }

    const TWO_SERVICES: &str = r#"
_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:9001/base
  routes:
  - name: ra
    paths: [/a]
    filter_chains:
    - filters:
      - name: f1
        config: {"minute": 5}
      - name: f2
        config: '{"x": 1}'
        enabled: false
- name: b
  protocol: http
  host: localhost
  port: 9002
  filter_chains:
  - name: chain-b
    filters:
    - name: f3
routes:
- name: rb
  service: b
  paths: [/b]
  strip_path: false
  methods: [get]
"#;

    #[test]
    fn parses_services_routes_and_chains() {
        let c = KongConfig::parse(TWO_SERVICES).unwrap();
        assert_eq!(c.services.len(), 2);
        let a = &c.services[0];
        assert_eq!(
            (a.host.as_str(), a.port, a.path.as_str()),
            ("127.0.0.1", 9001, "/base")
        );
        assert_eq!(a.routes[0].filters.len(), 1);
        assert_eq!(
            a.routes[0].filters[0].config.as_deref(),
            Some(r#"{"minute":5}"#)
        );
        let b = &c.services[1];
        assert_eq!(b.filters[0].name, "f3");
        assert_eq!(b.filters[0].config, None);
        assert_eq!(b.routes[0].methods, vec!["GET"]);
        assert_eq!(
            a.routes[0].filters[0].path,
            "services[0].routes[0].filter_chains[0].filters[0]"
        );
        assert_eq!(b.filters[0].path, "services[1].filter_chains[0].filters[0]");
        assert_eq!(b.filters[0].origin, "service:b/chain0:chain-b/0");
        assert!(!b.routes[0].strip_path);
        assert_eq!(a.id.len(), 36);
    }

    #[test]
    fn each_filter_knows_its_path_in_the_file() {
        let yaml = r#"
_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:9001
routes:
- name: r
  service: a
  paths: [/]
  filter_chains:
  - filters:
    - name: f1
    - name: f2
      enabled: false
    - name: f3
filter_chains:
- route: r
  filters:
  - name: f4
"#;
        let c = KongConfig::parse(yaml).unwrap();
        let paths: Vec<&str> = c.services[0].routes[0]
            .filters
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "routes[0].filter_chains[0].filters[0]",
                "routes[0].filter_chains[0].filters[2]",
                "filter_chains[0].filters[0]"
            ]
        );
    }

    #[test]
    fn refuses_other_format_versions_and_unknown_services() {
        assert!(KongConfig::parse("_format_version: \"1.1\"\n").is_err());
        let bad = "_format_version: \"3.0\"\nroutes:\n- name: r\n  service: nope\n  paths: [/]\n";
        assert!(KongConfig::parse(bad)
            .unwrap_err()
            .contains("unknown service"));
    }
}
