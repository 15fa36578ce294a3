//! A filter config as Envoy hands it over (`filter_name`, `filter_config`'s bytes), checked by the
//! filter's own parser: the same code and the same JSON as the Wasm build's.

/// A config the module accepted: which filter, and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterConfig {
    pub name: String,
    pub json: Vec<u8>,
}

/// The filters the module serves, by their Kong names.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = redis_chain::known::KNOWN.iter().map(|k| k.name).collect();
    names.push("redis-chain");
    names
}

/// `filter_name` and `filter_config` (a `StringValue` holding the filter's JSON; none is `{}`),
/// or why they are refused, naming the filter and, through its parser, the field.
pub fn parse(name: &[u8], config: &[u8]) -> Result<FilterConfig, String> {
    let name = std::str::from_utf8(name).map_err(|_| "filter_name: not UTF-8".to_string())?;
    let json = if config.is_empty() {
        &b"{}"[..]
    } else {
        config
    };
    let check = match name {
        "redis-chain" => redis_chain::config::check,
        _ => match redis_chain::known::find(name) {
            Some(known) => known.check,
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_takes_its_own_config_and_refuses_a_bad_field_by_name() {
        let ok = parse(b"redis-rate-limiting", br#"{"minute": 5}"#).unwrap();
        assert_eq!(ok.name, "redis-rate-limiting");
        let bad = parse(b"redis-rate-limiting", br#"{"minute": "ten"}"#).unwrap_err();
        assert!(
            bad.starts_with("redis-rate-limiting: ") && bad.contains("minute"),
            "{bad}"
        );
        let chain = br#"{"filters": [{"name": "redis-rate-limiting", "config": {"minute": 5}}]}"#;
        let parsed = parse(b"redis-chain", chain);
        assert!(parsed.is_ok(), "{parsed:?}");
        assert!(parse(b"redis-session", b"").is_ok(), "no config is {{}}");
    }

    #[test]
    fn an_unknown_filter_name_is_refused_with_the_names_there_are() {
        let e = parse(b"redis-nothing", b"{}").unwrap_err();
        assert!(
            e.contains("filter_name") && e.contains("redis-jwt-blacklist"),
            "{e}"
        );
        assert_eq!(names().len(), 6);
    }
}
