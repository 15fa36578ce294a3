//! A filter's config schema for Kong (`<filter>.meta.json`, JSON Schema draft 4), drawn from the
//! parser itself: while `record` runs, every `Fields` accessor notes the field it was asked for
//! and what it accepts, so the schema and the parser cannot drift apart. What a schema can say
//! of the parser's own checks (types, integer ranges, choices, positive numbers, unknown fields
//! refused) is said; what it cannot (one field required by another's value, limits ordered by
//! period) stays with the filter, which answers those with a 500 in Kong (see `proxy::respond`).

use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What an accessor accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Str,
    Bool,
    Number,
    /// A number greater than 0.
    Positive,
    Int {
        min: i64,
        max: i64,
    },
    OneOf(Vec<&'static str>),
    Array,
    Strings,
    /// An array of integers within `min..=max`.
    Ints {
        min: i64,
        max: i64,
    },
    /// An array of strings, each one of a fixed set.
    StringsOneOf(Vec<&'static str>),
    /// A list of strings, as an array or as one comma-separated string (kong.conf's lists).
    StrOrStrings,
    Record,
}

thread_local! {
    static RECORDING: RefCell<Option<BTreeMap<String, Kind>>> = const { RefCell::new(None) };
}

/// Called by the accessors: notes `path` (dotted, `[n]` for an array item) when recording.
pub(super) fn note(path: &str, kind: Kind) {
    RECORDING.with(|r| {
        if let Some(map) = r.borrow_mut().as_mut() {
            // The last accessor asked wins: `one_of` reads a string first, `strings` an array.
            map.insert(path.to_string(), kind);
        }
    });
}

/// Runs `parse` (the filter's parser over configs that reach every branch) and returns the
/// fields it asked for.
pub fn record(parse: impl FnOnce()) -> Recorded {
    RECORDING.with(|r| *r.borrow_mut() = Some(BTreeMap::new()));
    parse();
    let fields = RECORDING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    Recorded { fields }
}

pub struct Recorded {
    fields: BTreeMap<String, Kind>,
}

impl Recorded {
    /// Adds a field the parser reads under another name (the guide's flat aliases, moved into
    /// `redis` before parsing): it accepts what `target` accepts.
    pub fn alias(&mut self, path: &str, target: &str) {
        if let Some(kind) = self.fields.get(target).cloned() {
            let kind = match kind {
                // kong.conf style: "host:port,host:port" as well as a list.
                Kind::Array | Kind::Strings => Kind::StrOrStrings,
                k => k,
            };
            self.fields.insert(path.to_string(), kind);
        }
    }

    /// The draft-4 schema of the top-level object: `null` is accepted wherever a field is
    /// optional (Kong's Admin API writes absent fields as null), unknown fields are refused.
    pub fn to_schema(&self) -> Value {
        let mut root = Node::default();
        for (path, kind) in &self.fields {
            let mut node = &mut root;
            for segment in path.split('.') {
                let (name, item) = match segment.split_once('[') {
                    Some((name, _)) => (name, true),
                    None => (segment, false),
                };
                node = node.children.entry(name.to_string()).or_default();
                node.item |= item;
            }
            node.kind = Some(kind.clone());
        }
        let mut schema = Map::new();
        schema.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-04/schema#"),
        );
        if let Value::Object(body) = object(&root) {
            schema.extend(body);
        }
        schema.insert("type".into(), json!("object"));
        Value::Object(schema)
    }
}

/// A field and the fields under it (a record, or the records of an array).
#[derive(Default)]
struct Node {
    kind: Option<Kind>,
    /// Its children are those of each item of an array (`name[n].child`).
    item: bool,
    children: BTreeMap<String, Node>,
}

fn object(node: &Node) -> Value {
    let properties: Map<String, Value> = node
        .children
        .iter()
        .map(|(name, child)| (name.clone(), field(child)))
        .collect();
    json!({"type": ["object", "null"], "properties": properties, "additionalProperties": false})
}

fn field(node: &Node) -> Value {
    if node.children.is_empty() {
        return node.kind.as_ref().map_or_else(|| json!({}), leaf);
    }
    let record = object(node);
    if node.item {
        json!({"type": ["array", "null"], "items": record})
    } else {
        record
    }
}

fn leaf(kind: &Kind) -> Value {
    match kind {
        Kind::Str => json!({"type": ["string", "null"]}),
        Kind::Bool => json!({"type": ["boolean", "null"]}),
        Kind::Number => json!({"type": ["number", "null"]}),
        Kind::Positive => {
            json!({"type": ["number", "null"], "minimum": 0, "exclusiveMinimum": true})
        }
        Kind::Int { min, max } => {
            json!({"type": ["integer", "null"], "minimum": min, "maximum": max})
        }
        Kind::OneOf(choices) => {
            let mut values: Vec<Value> = choices.iter().map(|c| json!(c)).collect();
            values.push(Value::Null);
            json!({"type": ["string", "null"], "enum": values})
        }
        Kind::Array => json!({"type": ["array", "null"]}),
        Kind::Strings => json!({"type": ["array", "null"], "items": {"type": "string"}}),
        Kind::Ints { min, max } => json!({"type": ["array", "null"],
            "items": {"type": "integer", "minimum": min, "maximum": max}}),
        Kind::StringsOneOf(choices) => json!({"type": ["array", "null"],
            "items": {"type": "string", "enum": choices}}),
        Kind::StrOrStrings => {
            json!({"type": ["string", "array", "null"], "items": {"type": "string"}})
        }
        Kind::Record => object(&Node::default()),
    }
}

/// Checks `value` against a schema made by `to_schema` (the draft-4 keywords it uses: `type`,
/// `enum`, `properties`, `additionalProperties: false`, `items`, `required`, `anyOf`, `minimum`,
/// `maximum`, `exclusiveMinimum`), as Kong's Admin API would; the first failure, with its path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "config")
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|f| f.fract() == 0.0),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{at}: {why}"));
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => return fail(format!("not {t}")),
        Some(Value::Array(ts))
            if !ts
                .iter()
                .any(|t| t.as_str().is_some_and(|t| type_matches(t, value))) =>
        {
            return fail(format!("not any of {ts:?}"))
        }
        _ => {}
    }
    if let Some(Value::Array(choices)) = schema.get("enum") {
        if !choices.contains(value) {
            return fail(format!("{value} is not one of {choices:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        let exclusive = schema.get("exclusiveMinimum") == Some(&Value::Bool(true));
        if n < min || (exclusive && n == min) {
            return fail(format!("{n} is below the minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n > max {
            return fail(format!("{n} is above the maximum {max}"));
        }
    }
    if let Value::Object(map) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, v) in map {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => check(sub, v, &format!("{at}.{key}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return fail(format!("unknown field {key}"))
                }
                None => {}
            }
        }
        if let Some(Value::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    return fail(format!("{r} is required"));
                }
            }
        }
    }
    if let (Some(items), Value::Array(list)) = (schema.get("items"), value) {
        for (i, item) in list.iter().enumerate() {
            check(items, item, &format!("{at}[{}]", i + 1))?;
        }
    }
    if let Some(Value::Array(any)) = schema.get("anyOf") {
        if !any.iter().any(|s| check(s, value, at).is_ok()) {
            return fail("matches none of anyOf".into());
        }
    }
    Ok(())
}

/// For a filter's test: whether `path` (its `kong/<filter>.meta.json`) holds `meta` as the
/// parser draws it; with `UPDATE_META_JSON` set it is written first. The error says how to
/// regenerate it.
pub fn check_meta_json(path: &str, meta: &Value, package: &str) -> Result<(), String> {
    let want = serde_json::to_string_pretty(meta).map_err(|e| e.to_string())? + "\n";
    if std::env::var_os("UPDATE_META_JSON").is_some() {
        std::fs::write(path, &want).map_err(|e| e.to_string())?;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have == want {
        return Ok(());
    }
    Err(format!(
        "{path} is stale: run UPDATE_META_JSON=1 cargo test -p {package} meta_json"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Fields;

    fn parse(value: &Value) {
        if let Ok(mut f) = Fields::new("", value) {
            let _ = f.positive("rate");
            let _ = f.one_of("mode", &["a", "b"]);
            if let Ok(Some(mut inner)) = f.record("inner") {
                let _ = inner.int("port", 0, 65535);
            }
            let _ = f.strings("tags");
        }
    }

    #[test]
    fn the_schema_is_what_the_accessors_accept() {
        let recorded = record(|| parse(&json!({"inner": {}})));
        let schema = recorded.to_schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["mode"]["enum"],
            json!(["a", "b", null])
        );
        assert_eq!(
            schema["properties"]["inner"]["properties"]["port"]["maximum"],
            65535
        );
        assert_eq!(schema["properties"]["tags"]["items"]["type"], "string");
        let ok = json!({"rate": 2, "mode": "a", "inner": {"port": 80}, "tags": ["x"]});
        assert_eq!(validate(&schema, &ok), Ok(()));
        for bad in [
            json!({"rate": 0}),
            json!({"mode": "c"}),
            json!({"inner": {"port": 70000}}),
            json!({"inner": {"hots": 1}}),
            json!({"tags": [1]}),
            json!({"other": 1}),
        ] {
            assert!(validate(&schema, &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_is_recorded_outside_record() {
        parse(&json!({"rate": 1}));
        assert!(record(|| {}).to_schema()["properties"]
            .as_object()
            .is_some_and(|p| p.is_empty()));
    }
}
