//! `check`, and what `render-envoy` and `render-nginx` check before they write a config: the
//! config of each filter of this project passes that filter's own parser (its native build), and
//! with a filters path, every filter a chain names has its `.wasm` there; so an operator hears of
//! a bad config here and not from the gateway's log when it starts. Each problem names the
//! filter's path in the kong.yml.

use crate::kong_config::{FilterEntry, KongConfig};
use std::path::Path;

/// A filter's config parser: the config's JSON in, the refusal out.
pub type Parser = fn(&[u8]) -> Result<(), String>;

/// The config parser of each filter this project ships, by its Kong filter name.
pub fn parser(name: &str) -> Option<Parser> {
    match name {
        "redis-chain" => Some(redis_chain::config::check),
        "redis-chain-end" => Some(redis_chain_end::config::check),
        _ => redis_chain::known::find(name).map(|k| k.check),
    }
}

/// Every filter of the kong.yml that runs (enabled, in an enabled chain), in file order.
pub fn filters(config: &KongConfig) -> impl Iterator<Item = &FilterEntry> {
    config.services.iter().flat_map(|s| {
        let routes = s.routes.iter().flat_map(|r| r.filters.iter());
        s.filters.iter().chain(routes)
    })
}

/// Every problem found, each as `PATH (FILTER): what`; empty when all is well. Without
/// `filters_path` the `.wasm` files are not looked for.
pub fn check(config: &KongConfig, filters_path: Option<&Path>) -> Vec<String> {
    check_build(config, filters_path, false)
}

/// The Envoy dynamic module's file: it carries every filter of this project (`--native`).
pub const NATIVE_MODULE_FILE: &str = "libredis_filters.so";

/// `check`; with `native`, this project's filters are looked for as the dynamic module
/// (`libredis_filters.so`) in `filters_path` instead of their `.wasm` files.
pub fn check_build(config: &KongConfig, filters_path: Option<&Path>, native: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(dir) = filters_path {
        if !dir.is_dir() {
            problems.push(format!("--filters-path {}: not a directory", dir.display()));
            return problems;
        }
    }
    for f in filters(config) {
        if let Some(dir) = filters_path {
            let (file, build) = if native && parser(&f.name).is_some() {
                (dir.join(NATIVE_MODULE_FILE), "scripts/build-native.sh")
            } else {
                (
                    dir.join(format!("{}.wasm", f.name)),
                    "scripts/build-wasm.sh",
                )
            };
            if !file.is_file() {
                problems.push(format!(
                    "{} ({}): no {} (build with {build})",
                    f.path,
                    f.name,
                    file.display()
                ));
            }
        }
        if let Some(parse) = parser(&f.name) {
            let raw = f.config.as_deref().unwrap_or("{}");
            if let Err(e) = parse(raw.as_bytes()) {
                problems.push(format!("{} ({}): {e}", f.path, f.name));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
_format_version: "3.0"
routes:
- name: top
  service: s
  paths: [/top]
  filter_chains:
  - filters:
    - name: redis-chain
      config: {"filters": [{"name": "redis-jwt", "config": {"key_claim_name": 5}}]}
services:
- name: s
  host: 127.0.0.1
  port: 9000
  routes:
  - name: r
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minutes": 5}
      - name: redis-session
        config: {"storage": "redis"}
      - name: theirs
        config: {"anything": 1}
"#;

    #[test]
    fn every_bad_config_is_named_by_its_path() {
        let config = KongConfig::parse(YAML).unwrap();
        let problems = check(&config, None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "services[0].routes[0].filter_chains[0].filters[0] (redis-rate-limiting): "
            ) && problems[0].contains("did you mean 'minute'"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].starts_with("routes[0].filter_chains[0].filters[0] (redis-chain): ")
                && problems[1].contains("key_claim_name"),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn with_a_filters_path_a_missing_wasm_is_named_too() {
        let config = KongConfig::parse(YAML).unwrap();
        let dir = std::env::temp_dir();
        let problems = check(&config, Some(&dir));
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(
            problems[0].starts_with("services[0].routes[0].filter_chains[0].filters[0] ")
                && problems[0].contains("no ")
                && problems[0]
                    .ends_with("redis-rate-limiting.wasm (build with scripts/build-wasm.sh)"),
            "{}",
            problems[0]
        );
        let missing = check(&config, Some(Path::new("/no/such/dir")));
        assert_eq!(
            missing,
            vec!["--filters-path /no/such/dir: not a directory".to_string()]
        );
    }
}
