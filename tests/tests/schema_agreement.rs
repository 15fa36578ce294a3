//! Each filter's `meta.json` schema (what Kong validates a filter config with) and the filter's
//! own parser agree, field by field: every field of the schema gets values of every JSON kind,
//! and
//! - what the parser accepts, the schema accepts (else Kong refuses a config the filter takes:
//!   the guide's `redis_cluster_addresses: [..]` list was one);
//! - what the parser refuses as of the wrong kind (`expected a string`, ...), the schema refuses
//!   (else Kong takes a config the filter then refuses, which in Kong's engine is a 500 on every
//!   request).
//!
//! A value of the right kind that the parser refuses for what it says (a host that is no host, a
//! field another field requires) is the parser's to refuse: a JSON schema cannot say it.

use redis_filter_core::config::schema::validate;
use serde_json::{json, Value};

/// A filter: its name, parser, schema and a config it accepts.
struct Filter {
    name: &'static str,
    parse: fn(&[u8]) -> Result<(), String>,
    schema: Value,
    base: Value,
}

fn filters() -> Vec<Filter> {
    let known = |name: &'static str, schema: Value, base: Value| Filter {
        name,
        parse: redis_chain::known::find(name).unwrap().check,
        schema,
        base,
    };
    vec![
        known(
            "redis-rate-limiting",
            redis_rate_limiting::config::kong_schema(),
            json!({"minute": 5}),
        ),
        known(
            "redis-proxy-cache",
            redis_proxy_cache::config::kong_schema(),
            json!({"strategy": "memory"}),
        ),
        known(
            "redis-session",
            redis_session::config::kong_schema(),
            json!({"secret": "a-secret-long-enough"}),
        ),
        known("redis-jwt", redis_jwt::config::kong_schema(), json!({})),
        known(
            "redis-jwt-blacklist",
            redis_jwt_blacklist::config::kong_schema(),
            json!({}),
        ),
        Filter {
            name: "redis-chain-end",
            parse: redis_chain_end::config::check,
            schema: redis_chain_end::config::kong_schema(),
            base: json!({}),
        },
        Filter {
            name: "redis-chain",
            parse: redis_chain::config::check,
            schema: redis_chain::config::kong_schema(),
            base: json!({"filters": [{"name": "redis-jwt"}]}),
        },
    ]
}

/// Values of every JSON kind, some shaped as the fields expect (addresses, hosts).
fn samples() -> Vec<Value> {
    vec![
        json!("x"),
        json!("127.0.0.1:7001,127.0.0.1:7002"),
        json!(0),
        json!(1),
        json!(5),
        json!(1.5),
        json!(-1),
        json!(true),
        json!(["x"]),
        json!(["127.0.0.1:7001", "127.0.0.1:7002"]),
        json!([1]),
        json!({}),
    ]
}

/// The dotted paths of the schema's fields, through records (not into arrays of records).
fn fields(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, sub) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push(path.clone());
        fields(sub, &path, out);
    }
}

/// `base` with `value` at the dotted `path`.
fn with(base: &Value, path: &str, value: &Value) -> Value {
    let mut config = base.clone();
    let mut node = &mut config;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = json!({});
        }
        let map = node.as_object_mut().unwrap();
        if i + 1 == parts.len() {
            map.insert(part.to_string(), value.clone());
            break;
        }
        node = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
    config
}

/// Whether `error` refuses the value at `path` for its kind.
fn wrong_kind(error: &str, path: &str) -> bool {
    let at = format!("{path}: expected");
    error.contains(&at) && !error.contains("expected one of")
}

#[test]
fn every_field_of_every_schema_takes_what_its_parser_takes() {
    let mut disagreements = Vec::new();
    let mut probes = 0;
    for f in filters() {
        let schema = &f.schema["config_schema"];
        let parsed = (f.parse)(f.base.to_string().as_bytes());
        assert!(parsed.is_ok(), "{}: base config: {parsed:?}", f.name);
        assert!(validate(schema, &f.base).is_ok(), "{}: base config", f.name);
        let mut paths = Vec::new();
        fields(schema, "", &mut paths);
        for path in &paths {
            for value in samples() {
                let config = with(&f.base, path, &value);
                let by_schema = validate(schema, &config);
                let by_parser = (f.parse)(config.to_string().as_bytes());
                probes += 1;
                match (&by_parser, &by_schema) {
                    (Ok(()), Err(e)) => disagreements.push(format!(
                        "{}: {path} = {value}: the filter takes it, the schema refuses it ({e})",
                        f.name
                    )),
                    (Err(e), Ok(())) if wrong_kind(e, path) => disagreements.push(format!(
                        "{}: {path} = {value}: the schema takes it, the filter refuses its kind ({e})",
                        f.name
                    )),
                    _ => {}
                }
            }
        }
    }
    eprintln!("{probes} probes");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// A filter listed with no `config` (Kong passes the filter nothing): Kong validates `null`
/// against the schema, so the schema takes `null` exactly when the parser takes no config. Kong
/// 3.9.3 refused `- name: redis-chain-end` without it ("config: wrong type: expected object,
/// got null") while the filter takes nothing.
#[test]
fn a_filter_without_config_is_taken_by_the_schema_exactly_when_the_filter_takes_it() {
    let mut disagreements = Vec::new();
    for f in filters() {
        let by_parser = (f.parse)(b"");
        let by_schema = validate(&f.schema["config_schema"], &Value::Null);
        if by_parser.is_ok() != by_schema.is_ok() {
            disagreements.push(format!(
                "{}: no config: the filter says {by_parser:?}, the schema {by_schema:?}",
                f.name
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
