//! redis-filters: what an operator of the Redis filters runs, without building a host. It reads
//! Kong's declarative kong.yml (`kong_config`, which the harness serves too), checks each
//! filter's config with that filter's own parser (`filter_check`), renders the kong.yml for
//! Envoy (`envoy_config`) and for Kong's engine without Kong (`nginx_config`), both letting
//! through only the Redis nodes the configs name (`targets`), and manages redis-jwt's
//! credentials in Redis (`credentials`). The command line is `args`.

pub mod args;
pub mod credentials;
pub mod envoy_config;
pub mod escape;
pub mod filter_check;
pub mod kong_config;
pub mod nginx_config;
pub mod targets;

/// `value[key] = to` for a JSON object, without indexing's panic when `value` is something
/// else: `null` becomes an object first, as with indexing; any other value is left as it is.
pub fn set_field(value: &mut serde_json::Value, key: &str, to: serde_json::Value) {
    if value.is_null() {
        *value = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(object) = value.as_object_mut() {
        object.insert(key.to_string(), to);
    }
}

/// `host:port` (`[v6]:port`) to its parts.
pub fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?}: expected host:port"))?;
    let port = port.parse().map_err(|_| format!("{addr:?}: bad port"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_field_sets_objects_only() {
        let mut v = json!({"a": 1});
        set_field(&mut v, "b", json!(2));
        assert_eq!(v, json!({"a": 1, "b": 2}));
        let mut null = serde_json::Value::Null;
        set_field(&mut null, "a", json!(1));
        assert_eq!(null, json!({"a": 1}));
        let mut list = json!([1]);
        set_field(&mut list, "a", json!(1));
        assert_eq!(list, json!([1]));
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_addr("127.0.0.1:80"), Ok(("127.0.0.1".into(), 80)));
        assert_eq!(split_addr("[::1]:8000"), Ok(("::1".into(), 8000)));
        assert!(split_addr("localhost").is_err());
        assert!(split_addr("h:http").is_err());
    }
}
