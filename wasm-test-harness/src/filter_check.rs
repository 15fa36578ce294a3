//! What `render-envoy` and `render-nginx` check before they write a config: every filter a chain
//! names has its `.wasm` in the filters path, and the config of each filter of this project
//! passes that filter's own parser (its native build), so a user hears of a bad config here and
//! not from the gateway's log when it starts.

use crate::kong_config::KongConfig;
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

/// Every problem found, each naming its filter and where it is used; empty when all is well.
pub fn check(config: &KongConfig, filters_path: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if !filters_path.is_dir() {
        problems.push(format!(
            "--filters-path {}: not a directory",
            filters_path.display()
        ));
        return problems;
    }
    for service in &config.services {
        let routes = service.routes.iter().flat_map(|r| r.filters.iter());
        for f in service.filters.iter().chain(routes) {
            let wasm = filters_path.join(format!("{}.wasm", f.name));
            if !wasm.is_file() {
                problems.push(format!(
                    "filter {} ({}): no {} (build with scripts/build-wasm.sh)",
                    f.name,
                    f.origin,
                    wasm.display()
                ));
            }
            if let Some(parse) = parser(&f.name) {
                let raw = f.config.as_deref().unwrap_or("{}");
                if let Err(e) = parse(raw.as_bytes()) {
                    problems.push(format!("filter {} ({}): {e}", f.name, f.origin));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_wasm_and_a_bad_config_are_named() {
        let yaml = r#"
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9000
  routes:
  - name: r
    paths: [/]
    filter_chains:
    - filters:
      - name: redis-rate-limiting
        config: {"minutes": 5}
"#;
        let config = KongConfig::parse(yaml).unwrap();
        let dir = std::env::temp_dir();
        let problems = check(&config, &dir);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("no ") && problems[0].contains("redis-rate-limiting.wasm"));
        assert!(
            problems[1].contains("did you mean 'minute'"),
            "{}",
            problems[1]
        );
        let missing = check(&config, Path::new("/no/such/dir"));
        assert_eq!(
            missing,
            vec!["--filters-path /no/such/dir: not a directory".to_string()]
        );
    }
}
