//! A filter config as Envoy hands it over (`filter_name`, `filter_config`'s bytes), checked by the
//! filter's own parser: the same code and the same JSON as the Wasm build's.

use redis_filter_core::proxy::RootContext;

/// A config the module accepted: which filter, its JSON, its root context, Envoy's handle.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    pub name: String,
    pub json: Vec<u8>,
    /// Makes the filter's root context (the filter alone, or `redis-chain`).
    pub root: fn(u32) -> Box<dyn RootContext>,
    /// Envoy's handle of the config (its counters are defined on it).
    pub envoy: usize,
}

/// A filter's config parser: the config's JSON in, the refusal out.
type Check = fn(&[u8]) -> Result<(), String>;

/// The filters the module serves, by their Kong names.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = redis_chain::known::KNOWN.iter().map(|k| k.name).collect();
    names.extend(["redis-chain", redis_chain_end::NAME]);
    names
}

/// `filter_name` and `filter_config` (a `StringValue` holding the filter's JSON; none is `{}`),
/// or why they are refused, naming the filter and, through its parser, the field.
pub fn parse(name: &[u8], config: &[u8], envoy: usize) -> Result<FilterConfig, String> {
    let name = std::str::from_utf8(name).map_err(|_| "filter_name: not UTF-8".to_string())?;
    let json = if config.is_empty() {
        &b"{}"[..]
    } else {
        config
    };
    let (check, root): (Check, _) = match name {
        "redis-chain" => (redis_chain::config::check, redis_chain::root as _),
        redis_chain_end::NAME => (redis_chain_end::config::check, redis_chain_end::root as _),
        _ => match redis_chain::known::find(name) {
            Some(known) => (known.check, known.root),
            None => {
                let known = names().join(", ");
                return Err(format!(
                    "filter_name: no filter {name:?} here (one of {known})"
                ));
            }
        },
    };
    check(json).map_err(|e| format!("{name}: {e}"))?;
    Ok(FilterConfig {
        name: name.to_string(),
        json: json.to_vec(),
        root,
        envoy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_takes_its_own_config_and_refuses_a_bad_field_by_name() {
        let ok = parse(b"redis-rate-limiting", br#"{"minute": 5}"#, 0).unwrap();
        assert_eq!(ok.name, "redis-rate-limiting");
        let bad = parse(b"redis-rate-limiting", br#"{"minute": "ten"}"#, 0).unwrap_err();
        assert!(
            bad.starts_with("redis-rate-limiting: ") && bad.contains("minute"),
            "{bad}"
        );
        let chain = br#"{"filters": [{"name": "redis-rate-limiting", "config": {"minute": 5}}]}"#;
        let parsed = parse(b"redis-chain", chain, 0);
        assert!(parsed.is_ok(), "{parsed:?}");
        assert!(parse(b"redis-session", b"", 0).is_ok(), "no config is {{}}");
    }

    #[test]
    fn an_unknown_filter_name_is_refused_with_the_names_there_are() {
        let e = parse(b"redis-nothing", b"{}", 0).unwrap_err();
        assert!(
            e.contains("filter_name") && e.contains("redis-jwt-blacklist"),
            "{e}"
        );
        assert_eq!(names().len(), 7);
    }
}
