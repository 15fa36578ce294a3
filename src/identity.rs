//! Who a request authenticated as, handed from the filter that authenticated it to the filters
//! after it in the same chain (an auth filter to `redis-session`, `redis-proxy-cache`, rate
//! limiting by consumer). It travels in a per-request property that only filters can set, so a
//! client cannot forge it the way it can send `X-Consumer-ID`:
//! - Kong: `kong.ctx.shared.redis_filters_consumer` (Kong's per-request table shared with its
//!   Lua plugins); ngx_wasm_module without Kong: its host namespace,
//!   `wasmx.redis_filters_consumer`;
//! - Envoy: the filter state `wasm.redis_filters_consumer` (what `proxy_set_property` writes).
//!
//! The value is the consumer as JSON: `{"id", "custom_id", "username", "credential", "groups"}`.

use crate::filter_host::FilterHost;
use serde_json::{json, Value};

/// The property's name, last in each of its paths.
pub const KEY: &str = "redis_filters_consumer";

/// An authenticated consumer, as Kong's auth plugins describe one upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    pub id: String,
    pub custom_id: Option<String>,
    pub username: Option<String>,
    /// The credential's identifier (`X-Credential-Identifier`).
    pub credential: Option<String>,
    pub groups: Vec<String>,
}

impl Consumer {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "custom_id": self.custom_id,
            "username": self.username,
            "credential": self.credential,
            "groups": self.groups,
        })
    }

    pub fn from_json(value: &Value) -> Option<Self> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
        let id = text("id").filter(|id| !id.is_empty())?;
        let groups = value
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            id,
            custom_id: text("custom_id"),
            username: text("username"),
            credential: text("credential"),
            groups,
        })
    }
}

/// Where the consumer goes in this host, in the order to try.
fn paths(host: &dyn FilterHost) -> &'static [&'static [&'static str]] {
    if host.resumes_only_itself() {
        // ngx_wasm_module: Kong's shared table, else the engine's own namespace.
        &[&["kong", "ctx", "shared", KEY], &["wasmx", KEY]]
    } else {
        &[&[KEY]]
    }
}

/// Hands the request's consumer to the filters after this one.
pub fn hand_over(host: &dyn FilterHost, consumer: &Consumer) -> Result<(), String> {
    let value = consumer.to_json().to_string();
    if paths(host)
        .iter()
        .any(|path| host.set_property(path, value.as_bytes()))
    {
        return Ok(());
    }
    Err("the host keeps no per-request property for the consumer".into())
}

/// The consumer an earlier filter of the chain handed over, if any.
pub fn handed(host: &dyn FilterHost) -> Option<Consumer> {
    paths(host).iter().find_map(|path| {
        let raw = host.property(path)?;
        Consumer::from_json(&serde_json::from_str(&raw).ok()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter_host::MockHost;

    fn alice() -> Consumer {
        Consumer {
            id: "c1".into(),
            username: Some("alice".into()),
            credential: Some("key-1".into()),
            groups: vec!["admins".into()],
            ..Consumer::default()
        }
    }

    #[test]
    fn handed_over_and_read_back_in_each_host() {
        for per_context in [false, true] {
            let host = MockHost::default();
            host.per_context.set(per_context);
            assert_eq!(handed(&host), None);
            hand_over(&host, &alice()).unwrap();
            assert_eq!(handed(&host), Some(alice()));
        }
    }

    #[test]
    fn without_kongs_table_the_engines_namespace_carries_it() {
        let host = MockHost::default();
        host.per_context.set(true);
        host.settable
            .borrow_mut()
            .push("wasmx.redis_filters_consumer".into());
        hand_over(&host, &alice()).unwrap();
        assert!(host
            .properties
            .borrow()
            .contains_key("wasmx.redis_filters_consumer"));
        assert_eq!(handed(&host), Some(alice()));
    }

    #[test]
    fn a_value_without_an_id_is_no_consumer() {
        assert_eq!(Consumer::from_json(&json!({"username": "x"})), None);
        assert_eq!(Consumer::from_json(&json!({"id": ""})), None);
    }
}
