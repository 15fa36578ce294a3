//! The filter takes no config: none, `{}` or `null`. Anything else is refused, naming the field,
//! so that a config meant for another filter is not silently dropped.

use redis_filter_core::config::Fields;
use serde_json::{json, Value};

/// Whether `raw` is a config redis-chain-end accepts; the error names the first field.
pub fn check(raw: &[u8]) -> Result<(), String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| format!("{}: invalid config: {e}", crate::NAME))?;
    if value.is_null() {
        return Ok(());
    }
    let fields = Fields::new("", &value).map_err(|e| format!("{}: {e}", crate::NAME))?;
    fields.finish().map_err(|e| format!("{}: {e}", crate::NAME))
}

/// Kong's `config_schema` for this filter (kong/redis-chain-end.meta.json): an object with no
/// fields.
pub fn kong_schema() -> Value {
    json!({
        "config_schema": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "additionalProperties": false,
            "properties": {},
            // null: listed with no `config`, as users write it (Kong validates null).
            "type": ["object", "null"]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_config_an_empty_object_or_null_is_accepted() {
        for raw in ["", "  ", "{}", "null"] {
            assert_eq!(check(raw.as_bytes()), Ok(()), "{raw:?}");
        }
    }

    #[test]
    fn a_field_or_a_non_object_is_refused_by_name() {
        let e = check(br#"{"minute": 5}"#).unwrap_err();
        assert!(e.contains("minute") && e.contains("unknown field"), "{e}");
        let e = check(b"[1]").unwrap_err();
        assert!(e.starts_with("redis-chain-end: "), "{e}");
        let e = check(b"not json").unwrap_err();
        assert!(e.contains("invalid config"), "{e}");
    }

    #[test]
    fn meta_json_is_the_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../kong/redis-chain-end.meta.json"
        );
        let checked = redis_filter_core::config::schema::check_meta_json(
            path,
            &kong_schema(),
            "redis-chain-end",
        );
        assert_eq!(checked, Ok(()));
    }
}
