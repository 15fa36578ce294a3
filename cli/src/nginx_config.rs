//! Renders a Kong kong.yml with filter chains as the two nginx configs that run the filters in
//! Kong's engine without Kong: nginx with ngx_wasm_module (`proxy_wasm` directives per route, as
//! Kong attaches filter chains, started from the access phase as Kong starts them) and the RESP
//! bridge (kong/redis-bridge.conf's server block in an nginx with the Lua module), listening on a
//! unix socket and allowed to reach exactly the nodes the filters' configs name (and any port of
//! the Sentinel and Cluster hosts), as the Envoy tunnel is.

use crate::escape::regex_literal;
use crate::kong_config::{FilterEntry, KongConfig, Route, Service};
use crate::targets::{redis_targets, Target};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

pub struct NginxOptions<'a> {
    /// Where `<filter>.wasm` files are.
    pub filters_path: &'a Path,
    pub listen: (String, u16),
    pub workers: usize,
    /// Where logs and the pid file go (`<prefix>/logs/...`).
    pub prefix: &'a Path,
    /// The bridge's unix socket.
    pub bridge_socket: &'a Path,
    /// The directory of `redis_bridge.lua` (the repository's `kong/`).
    pub bridge_lua_dir: &'a Path,
    /// Bridge targets beyond what the configs name: `host:port` or `host:*`.
    pub redis_allow: Vec<String>,
    /// Run the workers as root (when the tests run as root, so both nginx can use the socket).
    pub user_root: bool,
    /// The CA bundle the bridge checks Redis' certificates against (`ssl_verify`).
    pub redis_ca: Option<&'a Path>,
    /// Keep consecutive filters of ours that wait on Redis as they are, not merged into one
    /// `redis-chain` (`merge_waiting`).
    pub keep_apart: bool,
}

pub struct NginxConfigs {
    /// For nginx built with ngx_wasm_module.
    pub wasm: String,
    /// For nginx with the Lua module (Debian: libnginx-mod-http-lua, lua-resty-core).
    pub bridge: String,
    /// What the rendering changed in the chains, for the operator (`render-nginx` prints them).
    pub notes: Vec<String>,
}

/// The filter that ends a chain whose filters may pause on Redis (engine bug 9).
pub const CHAIN_END: &str = "redis-chain-end";

/// Whether a filter of ours may pause the request on a Redis call: redis-chain and the
/// blacklist always; the others with Redis in their config (rate limiting `policy: redis`,
/// redis-session `storage: redis`, redis-proxy-cache `strategy: redis`, redis-jwt
/// `credentials_in_redis`). Kong's defaults (`local`, `cookie`, `memory`, inline credentials)
/// never wait.
fn may_pause(f: &FilterEntry) -> bool {
    let config = json_config(f);
    let field = |name: &str| config.as_ref().and_then(|c| c.get(name)).cloned();
    let says = |name: &str, value: &str| field(name).is_some_and(|v| v == value);
    match f.name.as_str() {
        CHAIN | "redis-jwt-blacklist" => true,
        "redis-rate-limiting" => {
            !matches!(field("policy"), None | Some(Value::Null)) && !says("policy", "local")
        }
        "redis-session" => says("storage", "redis"),
        "redis-proxy-cache" => says("strategy", "redis"),
        "redis-jwt" => field("credentials_in_redis") == Some(Value::Bool(true)),
        _ => false,
    }
}

/// Whether a chain gets redis-chain-end appended: a filter of ours in it may pause and it does
/// not end with redis-chain-end already, so that its last filter never pauses
/// (docs/kong-engine.md, bug 9).
fn needs_chain_end(filters: &[&FilterEntry]) -> bool {
    let ends = filters.last().is_some_and(|f| f.name == CHAIN_END);
    !ends && filters.iter().any(|f| may_pause(f))
}

/// The filter that runs a sequence of ours as one.
pub const CHAIN: &str = "redis-chain";

/// Whether a filter can go into a `redis-chain`: one of the five of ours, its config JSON (a
/// config that is not goes as it is, for its filter to refuse).
fn mergeable(f: &FilterEntry) -> bool {
    redis_chain::known::find(&f.name).is_some() && (f.config.is_none() || json_config(f).is_some())
}

/// A filter's config as JSON (None when it has none, or it is not JSON).
fn json_config(f: &FilterEntry) -> Option<Value> {
    serde_json::from_str(f.config.as_deref()?).ok()
}

/// The chain with each run of two or more consecutive filters of ours of which one at least
/// waits on Redis as one `redis-chain` (one VM entry per callback for all of them; their
/// independent Redis commands in one round trip; no filter left to pause last), and what was
/// merged, each run as its filters' names.
fn merge_waiting(filters: &[&FilterEntry]) -> (Vec<FilterEntry>, Vec<String>) {
    let mut out = Vec::new();
    let mut merged = Vec::new();
    let mut rest = filters;
    while let Some((f, after)) = rest.split_first() {
        let run = rest.iter().take_while(|f| mergeable(f)).count();
        let (this, next) = rest.split_at_checked(run).unwrap_or((rest, &[]));
        if run < 2 || !this.iter().any(|f| may_pause(f)) {
            out.push((*f).clone());
            rest = after;
            continue;
        }
        let inner: Vec<Value> = this
            .iter()
            .map(|f| {
                let config = json_config(f).unwrap_or(serde_json::json!({}));
                serde_json::json!({"name": f.name, "config": config})
            })
            .collect();
        let names: Vec<&str> = this.iter().map(|f| f.name.as_str()).collect();
        merged.push(names.join(", "));
        out.push(FilterEntry {
            name: CHAIN.into(),
            config: Some(serde_json::json!({ "filters": inner }).to_string()),
            origin: f.origin.clone(),
            path: f.path.clone(),
        });
        rest = next;
    }
    (out, merged)
}

/// Whether this process runs as root: the rendered nginx then runs its workers as root too, so
/// the engine's workers may use the bridge's socket (nginx drops to `nobody` otherwise).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A single-quoted nginx string.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The filter's config with `redis.tunnel` pointing at the bridge when it names no tunnel.
fn with_bridge(config: Option<&str>, socket: &Path) -> Option<String> {
    let text = config?;
    // A config that is not JSON goes as it is: the filter refuses it, which is its business.
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Some(text.to_string());
    };
    bridge_to(&mut value, socket);
    Some(value.to_string())
}

/// Points a filter config's Redis at the bridge when it names no tunnel; in a `redis-chain`,
/// each inner filter's config.
pub fn bridge_to(value: &mut Value, socket: &Path) {
    if let Some(filters) = value.get_mut("filters").and_then(Value::as_array_mut) {
        for inner in filters.iter_mut().filter_map(|f| f.get_mut("config")) {
            bridge_to(inner, socket);
        }
        return;
    }
    let named_redis = value.as_object().is_some_and(|top| {
        top.keys()
            .any(|k| k == "redis" || k == "policy" || k.starts_with("redis_"))
    });
    if named_redis {
        if let Some(top) = value.as_object_mut() {
            let block = top
                .entry("redis")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(block) = block.as_object_mut() {
                block
                    .entry("tunnel")
                    .or_insert_with(|| Value::String(format!("unix:{}", socket.display())));
            }
        }
    }
}

fn filter_lines(out: &mut String, filters: &[FilterEntry], socket: &Path) -> Result<(), String> {
    for f in filters {
        match with_bridge(f.config.as_deref(), socket) {
            Some(c) => writeln!(out, "            proxy_wasm {} {};", f.name, quote(&c)),
            None => writeln!(out, "            proxy_wasm {};", f.name),
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a route's location is rendered from, beyond the route.
struct Rendering<'a> {
    socket: &'a Path,
    keep_apart: bool,
    notes: Vec<String>,
    /// The modules the locations use.
    modules: BTreeSet<String>,
}

fn location(out: &mut String, s: &Service, r: &Route, how: &mut Rendering) -> Result<(), String> {
    let declared: Vec<&FilterEntry> = s.filters.iter().chain(r.filters.iter()).collect();
    let mut filters = if how.keep_apart {
        declared.iter().map(|f| (*f).clone()).collect()
    } else {
        let (filters, merged) = merge_waiting(&declared);
        for names in merged {
            how.notes.push(format!(
                "route {}: {names} merged into one {CHAIN} (one VM entry per callback, \
                 independent Redis commands in one round trip; --keep-filters-apart keeps them \
                 apart)",
                r.name
            ));
        }
        filters
    };
    let appended = needs_chain_end(&filters.iter().collect::<Vec<_>>());
    if appended {
        how.notes.push(format!(
            "route {}: {CHAIN_END} appended to its filter chain, so that no filter pausing on \
             Redis is the chain's last (Kong's engine bug 9: docs/kong-engine.md)",
            r.name
        ));
        filters.push(FilterEntry {
            name: CHAIN_END.into(),
            config: None,
            origin: String::new(),
            path: String::new(),
        });
    }
    how.modules.extend(filters.iter().map(|f| f.name.clone()));
    let socket = how.socket;
    let prefixes: Vec<&str> = if r.paths.is_empty() {
        vec!["/"]
    } else {
        r.paths.iter().map(String::as_str).collect()
    };
    for prefix in prefixes {
        let w = |e: std::fmt::Error| e.to_string();
        writeln!(out, "        location {prefix} {{").map_err(w)?;
        if !filters.is_empty() {
            writeln!(out, "            proxy_wasm_request_headers_in_access on;").map_err(w)?;
            if appended {
                writeln!(out, "            # {CHAIN_END}: appended, engine bug 9").map_err(w)?;
            }
            filter_lines(out, &filters, socket)?;
        }
        // Kong's strip_path: the matched prefix goes, the service's path comes first. Only the
        // upstream's URI changes, as in Kong (its `$upstream_uri`): a `rewrite` would change the
        // request's own path before the access phase, and the filters would see the stripped
        // path (redis-jwt-blacklist's revoke_path, proxy-cache's key). Cut from the URI as the
        // client sent it (still escaped, with its query); the pattern quoted, as nginx reads it.
        let base = s.path.trim_end_matches('/');
        writeln!(out, "            set $proxied_uri {base}$request_uri;").map_err(w)?;
        if r.strip_path {
            let pattern = regex_literal(prefix.trim_end_matches('/'));
            let pattern = quote(&format!("^{pattern}/?(.*)$"));
            writeln!(
                out,
                "            if ($request_uri ~ {pattern}) {{ set $proxied_uri {base}/$1; }}"
            )
            .map_err(w)?;
        }
        // As Kong proxies: HTTP/1.1 over the service's pool of kept-alive connections, the
        // Host the service's own (Kong's `preserve_host: false`).
        writeln!(out, "            proxy_http_version 1.1;").map_err(w)?;
        writeln!(out, "            proxy_set_header Connection \"\";").map_err(w)?;
        writeln!(
            out,
            "            proxy_set_header Host \"{}:{}\";",
            s.host, s.port
        )
        .map_err(w)?;
        let upstream = upstream_name(s);
        writeln!(out, "            proxy_pass http://{upstream}$proxied_uri;").map_err(w)?;
        writeln!(out, "        }}").map_err(w)?;
    }
    Ok(())
}

/// The nginx upstream of a service.
fn upstream_name(s: &Service) -> String {
    let name: String = s
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("service_{name}")
}

/// One upstream per service with a pool of idle connections, as Kong's defaults have it
/// (`upstream_keepalive_pool_size` 512, `upstream_keepalive_max_requests` 10000,
/// `upstream_keepalive_idle_timeout` 60): without it every request opened a connection of its
/// own to the service.
fn upstreams(out: &mut String, config: &KongConfig) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for s in &config.services {
        let name = upstream_name(s);
        if !seen.insert(name.clone()) {
            return Err(format!("service {}: named twice", s.name));
        }
        writeln!(
            out,
            "    upstream {name} {{\n        server {}:{};\n        keepalive 512;\n        \
             keepalive_requests 10000;\n        keepalive_timeout 60s;\n    }}",
            s.host, s.port
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The bridge's allowlist: every node the configs name, any port of Sentinel and Cluster hosts,
/// and `redis_allow`.
fn allowlist(config: &KongConfig, extra: &[String]) -> Result<String, String> {
    let mut domains = BTreeSet::new();
    for s in &config.services {
        for f in s
            .filters
            .iter()
            .chain(s.routes.iter().flat_map(|r| r.filters.iter()))
        {
            for (_, targets, _) in redis_targets(&f.name, f.config.as_deref()) {
                domains.extend(targets.iter().map(Target::domain));
            }
        }
    }
    for a in extra {
        domains.insert(Target::parse(a)?.domain());
    }
    Ok(domains.into_iter().collect::<Vec<_>>().join(" "))
}

pub fn render(config: &KongConfig, opts: &NginxOptions) -> Result<NginxConfigs, String> {
    let prefix = opts.prefix.display();
    let user = if opts.user_root { "user root;\n" } else { "" };
    // The locations first: they say which modules the chains need.
    let mut locations = String::new();
    let mut how = Rendering {
        socket: opts.bridge_socket,
        keep_apart: opts.keep_apart,
        notes: Vec::new(),
        modules: BTreeSet::new(),
    };
    // nginx picks the longest matching prefix, as Kong's router does.
    let mut seen = BTreeSet::new();
    for s in &config.services {
        for r in &s.routes {
            for p in &r.paths {
                if !seen.insert(p.clone()) {
                    return Err(format!("path {p} is routed twice"));
                }
            }
            location(&mut locations, s, r, &mut how)?;
        }
    }
    let Rendering { notes, modules, .. } = how;
    let mut wasm = format!(
        "{user}worker_processes {workers};\nerror_log {prefix}/logs/error.log info;\n\
         pid {prefix}/logs/nginx.pid;\nevents {{ worker_connections 4096; }}\nwasm {{\n",
        workers = opts.workers.max(1)
    );
    for m in &modules {
        let path = opts.filters_path.join(format!("{m}.wasm"));
        writeln!(wasm, "    module {m} {};", path.display()).map_err(|e| e.to_string())?;
    }
    wasm.push_str("    shm_kv * 12m;\n}\nhttp {\n    access_log off;\n");
    upstreams(&mut wasm, config)?;
    // `reuseport`, as Kong's default `proxy_listen` has it: the kernel spreads connections
    // over the workers, rather than whichever worker wakes first taking runs of them.
    let _ = writeln!(
        wasm,
        "    client_body_temp_path {prefix}/body;\n    proxy_temp_path {prefix}/proxy;\n    server {{\n        listen {}:{} reuseport;",
        opts.listen.0, opts.listen.1
    );
    wasm.push_str(&locations);
    wasm.push_str("    }\n}\n");

    let bridge = format!(
        "{user}worker_processes 1;\n\
         load_module /usr/lib/nginx/modules/ndk_http_module.so;\n\
         load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n\
         error_log {prefix}/logs/bridge-error.log info;\n\
         pid {prefix}/logs/bridge.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
         \x20   lua_package_path \"{lua}/?.lua;;\";\n\
         \x20   client_body_temp_path {prefix}/bridge-body;\n\
         \x20   server {{\n\
         \x20       listen unix:{socket};\n\
         \x20       access_log off;\n\
         \x20       set $redis_bridge_allow \"{allow}\";\n\
         \x20       set $redis_bridge_timeout 2000;\n\
         \x20       set $redis_bridge_pool 64;\n\
         {tls}\
         \x20       client_max_body_size 4m;\n\
         \x20       client_body_buffer_size 4m;\n\
         \x20       location = / {{\n\
         \x20           content_by_lua_block {{ require(\"redis_bridge\").serve() }}\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n",
        lua = opts.bridge_lua_dir.display(),
        socket = opts.bridge_socket.display(),
        allow = allowlist(config, &opts.redis_allow)?,
        tls = opts.redis_ca.map_or(String::new(), |ca| format!(
            "        lua_ssl_trusted_certificate {};\n        lua_ssl_verify_depth 3;\n",
            ca.display()
        )),
    );
    Ok(NginxConfigs {
        wasm,
        bridge,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn render_yaml(yaml: &str) -> NginxConfigs {
        render_with(yaml, false)
    }

    fn render_with(yaml: &str, keep_apart: bool) -> NginxConfigs {
        let config = KongConfig::parse(yaml).unwrap();
        let (f, p, s, l) = (
            PathBuf::from("/f"),
            PathBuf::from("/p"),
            PathBuf::from("/p/bridge.sock"),
            PathBuf::from("/k"),
        );
        let opts = NginxOptions {
            filters_path: &f,
            listen: ("127.0.0.1".into(), 8000),
            workers: 2,
            prefix: &p,
            bridge_socket: &s,
            bridge_lua_dir: &l,
            redis_allow: vec!["10.0.0.9:*".into()],
            user_root: false,
            redis_ca: None,
            keep_apart,
        };
        render(&config, &opts).unwrap()
    }

    const YAML: &str = r#"
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:9000
  routes:
  - name: limited
    paths: [/limited]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5, "policy": "redis", "redis_host": "127.0.0.1", "redis_port": 6390}
  - name: sentinel
    paths: [/s]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5, "policy": "redis", "redis": {"sentinel_master": "m", "sentinel_role": "master", "sentinel_nodes": [{"host": "127.0.0.2", "port": 26379}]}}
  - name: open
    paths: [/]
"#;

    #[test]
    fn routes_become_locations_with_their_filters_from_the_access_phase() {
        let c = render_yaml(YAML);
        assert!(c
            .wasm
            .contains("module redis-rate-limiting /f/redis-rate-limiting.wasm;"));
        assert!(c.wasm.contains("location /limited {"));
        assert!(c.wasm.contains("proxy_wasm_request_headers_in_access on;"));
        assert!(
            c.wasm
                .contains("if ($request_uri ~ '^/limited/?(.*)$') { set $proxied_uri /$1; }"),
            "{}",
            c.wasm
        );
        assert!(c.wasm.contains("set $proxied_uri $request_uri;"));
        assert!(c
            .wasm
            .contains("proxy_pass http://service_echo$proxied_uri;"));
        assert!(!c.wasm.contains("rewrite"), "the request's own path stays");
        assert!(c.wasm.contains(
            "    upstream service_echo {\n        server 127.0.0.1:9000;\n        keepalive 512;"
        ));
        assert!(c.wasm.contains("proxy_http_version 1.1;"));
        assert!(c
            .wasm
            .contains(r#"proxy_set_header Host "127.0.0.1:9000";"#));
        assert!(c.wasm.contains("shm_kv * 12m;"));
        assert!(
            c.wasm.contains(r#""tunnel":"unix:/p/bridge.sock""#),
            "{}",
            c.wasm
        );
    }

    #[test]
    fn the_bridge_allows_exactly_the_configured_nodes() {
        let c = render_yaml(YAML);
        assert!(c.bridge.contains("listen unix:/p/bridge.sock;"));
        assert!(
            c.bridge.contains(
                r#"set $redis_bridge_allow "10.0.0.9:* 127.0.0.1:6390 127.0.0.2:* 127.0.0.2:26379";"#
            ),
            "{}",
            c.bridge
        );
    }

    const CHAINS: &str = r#"
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:9000
  routes:
  - name: waits
    paths: [/waits]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5, "policy": "redis"}
      - name: redis-rate-limiting
        config: {"hour": 5, "policy": "local"}
  - name: ended
    paths: [/ended]
    filter_chains:
    - filters:
      - name: redis-session
        config: {"storage": "redis"}
      - name: redis-chain-end
  - name: local
    paths: [/local]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5}
      - name: theirs
"#;

    #[test]
    fn a_chain_that_may_pause_on_redis_ends_with_redis_chain_end_and_says_so() {
        // The filters as written (merged, the first route would be one redis-chain: below).
        let c = render_with(CHAINS, true);
        let block = |path: &str| -> String {
            let at = c.wasm.find(&format!("location {path} {{")).unwrap();
            let rest = &c.wasm[at..];
            rest[..rest.find("proxy_pass").unwrap()].to_string()
        };
        let waits = block("/waits");
        let last = waits
            .lines()
            .map(str::trim)
            .rfind(|l| l.starts_with("proxy_wasm "));
        assert_eq!(last, Some("proxy_wasm redis-chain-end;"), "{waits}");
        assert!(waits.contains("# redis-chain-end: appended, engine bug 9"));
        assert_eq!(block("/ended").matches("redis-chain-end").count(), 1);
        assert!(
            !block("/local").contains("redis-chain-end"),
            "local never waits"
        );
        assert!(c
            .wasm
            .contains("module redis-chain-end /f/redis-chain-end.wasm;"));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(c.notes[0].starts_with("route waits: redis-chain-end appended"));
    }

    const USERS: &str = r#"
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:9000
  routes:
  - name: users
    paths: [/]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minute": 5}
      - name: redis-session
        config: {"storage": "redis", "redis": {"port": 6390}}
      - name: redis-jwt
        config: {"anonymous": "anon"}
      - name: theirs
      - name: redis-jwt-blacklist
  - name: inline
    paths: [/inline]
    filter_chains:
    - filters:
      - name: redis-jwt
        config: {"anonymous": "anon"}
      - name: redis-rate-limiting
        config: {"minute": 5}
"#;

    #[test]
    fn consecutive_filters_of_ours_become_one_redis_chain_where_one_waits_and_it_says_so() {
        let c = render_yaml(USERS);
        let lines = |path: &str| -> Vec<String> {
            let at = c.wasm.find(&format!("location {path} {{")).unwrap();
            let block = &c.wasm[at..];
            block[..block.find("proxy_pass").unwrap()]
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("proxy_wasm "))
                .map(str::to_string)
                .collect()
        };
        let users = lines("/");
        assert_eq!(users.len(), 4, "{users:?}");
        let chain = users[0].strip_prefix("proxy_wasm redis-chain '").unwrap();
        let chain: Value = serde_json::from_str(chain.trim_end_matches("';")).unwrap();
        let names: Vec<&str> = (0..3)
            .map(|i| chain["filters"][i]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["redis-rate-limiting", "redis-session", "redis-jwt"]);
        assert_eq!(chain["filters"][1]["config"]["redis"]["port"], 6390);
        assert_eq!(
            chain["filters"][1]["config"]["redis"]["tunnel"], "unix:/p/bridge.sock",
            "each inner config reaches the bridge"
        );
        assert_eq!(users[1], "proxy_wasm theirs;");
        assert_eq!(
            users[2], "proxy_wasm redis-jwt-blacklist;",
            "a run of one stays"
        );
        assert_eq!(users[3], "proxy_wasm redis-chain-end;");
        let inline = lines("/inline");
        assert_eq!(
            inline.len(),
            2,
            "nothing waits: as written, no end: {inline:?}"
        );
        assert!(c.wasm.contains("module redis-chain /f/redis-chain.wasm;"));
        assert!(
            !c.wasm.contains("module redis-session "),
            "only what the locations use"
        );
        assert!(c.notes[0]
            .contains("redis-rate-limiting, redis-session, redis-jwt merged into one redis-chain"));
        // Kept apart on request.
        let c = render_with(USERS, true);
        assert!(!c.wasm.contains("redis-chain "), "{}", c.wasm);
        assert!(c.wasm.contains("proxy_wasm redis-session "));
    }

    #[test]
    fn a_prefix_is_stripped_by_a_quoted_regex_that_matches_it_literally() {
        let yaml = r#"
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:9000/base
  routes:
  - name: odd
    paths: ["/v1.0/a b;c"]
"#;
        let c = render_yaml(yaml);
        assert!(
            c.wasm.contains(
                r"if ($request_uri ~ '^/v1\\.0/a b;c/?(.*)$') { set $proxied_uri /base/$1; }"
            ),
            "{}",
            c.wasm
        );
    }

    #[test]
    fn quotes_survive() {
        assert_eq!(quote(r#"{"a":"it's"}"#), r#"'{"a":"it\'s"}'"#);
    }
}
