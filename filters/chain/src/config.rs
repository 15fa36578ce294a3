//! The chain's config: `{"filters": [{"name": "redis-session", "config": {...}}, ...]}`, the
//! shape of a Kong `filter_chains` entry. Each inner config goes to its filter's own parser;
//! an error names its place in the chain (`filters[2].config.minute: ...`).

use crate::known::{self, Known};
use redis_filter_core::config::{read_filter_config, Fields};
use redis_filter_core::ConfigError;
use serde_json::{json, Value};

/// One filter of the chain: which, and its config as that filter reads it.
pub struct Entry {
    pub known: &'static Known,
    pub raw: Vec<u8>,
}

/// The chain's filters, in order; the error names the field.
pub fn parse(raw: &[u8]) -> Result<Vec<Entry>, String> {
    read_filter_config(raw, read).map_err(|e| e.to_string())
}

/// `parse`, and each inner config through its filter's parser.
pub fn check(raw: &[u8]) -> Result<(), String> {
    for (i, entry) in parse(raw)?.iter().enumerate() {
        (entry.known.check)(&entry.raw).map_err(|e| at(i, &e))?;
    }
    Ok(())
}

fn read(top: &mut Fields) -> Result<Vec<Entry>, ConfigError> {
    let names: Vec<&'static str> = known::KNOWN.iter().map(|k| k.name).collect();
    let Some(filters) = top.array("filters")? else {
        return Err(top.error("filters", "required field missing"));
    };
    if filters.is_empty() {
        return Err(top.error("filters", "length must be at least 1"));
    }
    let mut entries = Vec::new();
    for (i, item) in filters.iter().enumerate() {
        let mut fields = Fields::new(&format!("filters[{i}]"), item)?;
        let Some(name) = fields.one_of("name", &names)? else {
            return Err(fields.error("name", "required field missing"));
        };
        let config = fields.value("config").cloned().unwrap_or_else(|| json!({}));
        fields.finish()?;
        let known = known::find(name).ok_or_else(|| ConfigError::new("name", "unknown"))?;
        entries.push(Entry {
            known,
            raw: config.to_string().into_bytes(),
        });
    }
    Ok(entries)
}

/// An inner filter's error (`invalid config: minute: expected a number`) as the chain's
/// (`invalid config: filters[2].config.minute: expected a number`).
pub fn at(index: usize, error: &str) -> String {
    let path = format!("filters[{index}].config");
    let Some(rest) = error.strip_prefix("invalid config: ") else {
        return format!("invalid config: {path}: {error}");
    };
    match rest.split_once(": ") {
        Some((field, message)) if !field.is_empty() && !field.contains(char::is_whitespace) => {
            format!("invalid config: {path}.{field}: {message}")
        }
        _ => format!("invalid config: {path}: {rest}"),
    }
}

/// Kong's `config_schema` for this filter (kong/redis-chain.meta.json): the list of filters,
/// each inner config an object its filter checks when the chain starts.
pub fn kong_schema() -> Value {
    let names: Vec<&str> = known::KNOWN.iter().map(|k| k.name).collect();
    json!({
        "config_schema": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "additionalProperties": false,
            "properties": {
                "filters": {
                    "items": {
                        "additionalProperties": false,
                        "properties": {
                            "config": {"type": ["object", "null"]},
                            "name": {"enum": names, "type": "string"}
                        },
                        "required": ["name"],
                        "type": "object"
                    },
                    "minItems": 1,
                    "type": "array"
                }
            },
            "required": ["filters"],
            "type": "object"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_its_filters_in_order_with_their_configs() {
        let raw = br#"{"filters": [
            {"name": "redis-session", "config": {"storage": "cookie", "secret": "s"}},
            {"name": "redis-rate-limiting", "config": {"minute": 5}},
            {"name": "redis-rate-limiting", "config": {"hour": 50}}
        ]}"#;
        let entries = parse(raw).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.known.name).collect();
        assert_eq!(
            names,
            [
                "redis-session",
                "redis-rate-limiting",
                "redis-rate-limiting"
            ]
        );
        assert_eq!(entries[1].raw, br#"{"minute":5}"#);
        assert_eq!(check(raw), Ok(()));
    }

    #[test]
    fn an_inner_error_names_its_place_in_the_chain() {
        let raw = br#"{"filters": [
            {"name": "redis-jwt"},
            {"name": "redis-rate-limiting", "config": {"minute": "five"}}
        ]}"#;
        let e = check(raw).unwrap_err();
        assert!(
            e.starts_with("invalid config: filters[1].config.minute: "),
            "{e}"
        );
        let raw = br#"{"filters": [{"name": "redis-rate-limiting", "config": {}}]}"#;
        let e = check(raw).unwrap_err();
        assert!(
            e.starts_with("invalid config: filters[0].config: at least one"),
            "{e}"
        );
        let raw = br#"{"filters": [{"name": "redis-rate-limiting", "config": {"minutes": 5}}]}"#;
        let e = check(raw).unwrap_err();
        assert!(
            e.contains("filters[0].config.minutes: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn the_chain_itself_is_checked_by_field() {
        let e = check(b"{}").unwrap_err();
        assert!(e.contains("filters: required field missing"), "{e}");
        let e = check(br#"{"filters": []}"#).unwrap_err();
        assert!(e.contains("filters: length must be at least 1"), "{e}");
        let e = check(br#"{"filters": [{"name": "redis-chain"}]}"#).unwrap_err();
        assert!(
            e.contains("filters[0].name: expected one of: redis-rate-limiting"),
            "{e}"
        );
        let e = check(br#"{"filters": [{"name": "redis-jwt", "conf": {}}]}"#).unwrap_err();
        assert!(e.contains("filters[0].conf: unknown field"), "{e}");
        let e = check(br#"{"filters": [{"config": {}}]}"#).unwrap_err();
        assert!(e.contains("filters[0].name: required field missing"), "{e}");
    }

    #[test]
    fn meta_json_is_the_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-chain.meta.json"
        );
        let checked =
            redis_filter_core::config::schema::check_meta_json(path, &kong_schema(), "redis-chain");
        assert_eq!(checked, Ok(()));
    }
}
