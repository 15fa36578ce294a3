//! Every filter config shown to users (the kong.yml blocks of the docs and READMEs, the demo's
//! kong.yml) is accepted by its filter and by the schema Kong validates it with
//! (kong/<filter>.meta.json), so no example teaches a config that fails.

use redis_filter_core::config::schema::validate;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The yaml code blocks of a markdown file that carry filter chains (the whole file for .yml).
fn kong_ymls(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "yml") {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match &mut block {
            None if trimmed.starts_with("```yaml") => block = Some(String::new()),
            Some(b) if trimmed.starts_with("```") => {
                if b.contains("filter_chains") {
                    out.push(std::mem::take(b));
                }
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

/// A block indented inside a list item loses its common indentation.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

use redis_filters::filter_check::parser;

/// The filter name and `config` of every `{name: redis-..., config: ...}` anywhere in a
/// document (a mapping, or a JSON string as kong.yml also allows).
fn filter_configs(doc: &Value, out: &mut Vec<(String, Value)>) {
    match doc {
        Value::Object(map) => {
            let name = map.get("name").and_then(Value::as_str).unwrap_or("");
            if parser(name).is_some() {
                let config = match map.get("config") {
                    Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                    Some(v) => v.clone(),
                    None => serde_json::json!({}),
                };
                out.push((name.to_string(), config));
            }
            map.values().for_each(|v| filter_configs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| filter_configs(v, out)),
        _ => {}
    }
}

#[test]
fn every_example_config_is_accepted_by_the_filter_and_by_kongs_schema() {
    let schema = |name: &str| -> Value {
        let path = repo().join(format!("kong/{name}.meta.json"));
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        meta["config_schema"].clone()
    };
    let files = [
        "filters/proxy-cache/README.md",
        "filters/session/README.md",
        "filters/jwt/README.md",
        "filters/jwt-blacklist/README.md",
        "docs/standalone.md",
        "docs/sentinel.md",
        "docs/cluster.md",
        "filters/rate-limiting/README.md",
        "filters/chain/README.md",
        "kong/README.md",
        "envoy/README.md",
        "demo/kong.yml",
    ];
    let mut checked = 0;
    for file in files {
        for yaml in kong_ymls(&repo().join(file)) {
            let yaml = dedent(&yaml);
            // Placeholders the demo script fills in (ports of the servers it starts).
            let yaml = yaml
                .replace("${REDIS_PORT}", "6379")
                .replace("${ECHO_PORT}", "9000");
            let doc: Value = serde_yaml::from_str(&yaml)
                .unwrap_or_else(|e| panic!("{file}: a yaml block does not parse: {e}\n{yaml}"));
            let mut configs = Vec::new();
            filter_configs(&doc, &mut configs);
            for (name, value) in configs {
                let text = value.to_string();
                let parse = parser(&name).unwrap();
                parse(text.as_bytes())
                    .unwrap_or_else(|e| panic!("{file}: {name} refuses {text}: {e}"));
                validate(&schema(&name), &value)
                    .unwrap_or_else(|e| panic!("{file}: the schema refuses {text}: {e}"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "only {checked} example configs found");
    eprintln!("{checked} example configs checked");
}
