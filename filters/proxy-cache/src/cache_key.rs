//! Kong's cache key: `sha256_hex("<prefix>|<method>|<uri>|<params>|<headers>")`.
//! - prefix: `<consumer id>:<route id>`, else `<route id>`, else `default`;
//! - uri: nginx's request line (`GET /a?x=1 HTTP/1.1`) with everything from the first `?` cut,
//!   so a request without a query keeps the protocol (`GET /a HTTP/1.1`);
//! - params: every query arg sorted by name (or only `vary_query_params`, in their order) as
//!   `k=v` joined by `:`; a repeated arg's values sorted and joined by `,`; a valueless arg `k`;
//! - headers: only `vary_headers`, in their order, in the same format.

pub use redis_filter_core::hmac::sha256_hex;
use std::collections::BTreeMap;

/// A query arg's value: `k=v` (decoded) or a bare `k`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Arg {
    Bare,
    Value(String),
}

/// What the key is made of, read from the request.
#[derive(Debug, Clone, Default)]
pub struct KeyParts<'a> {
    pub consumer_id: Option<&'a str>,
    pub route_id: Option<&'a str>,
    pub method: &'a str,
    /// The request target as sent (`/a?x=1`).
    pub path: &'a str,
    /// `HTTP/1.1`.
    pub protocol: &'a str,
    pub ignore_uri_case: bool,
}

pub fn prefix(consumer_id: Option<&str>, route_id: Option<&str>) -> String {
    match (consumer_id, route_id) {
        (Some(c), Some(r)) => format!("{c}:{r}"),
        (_, Some(r)) => r.to_string(),
        _ => "default".to_string(),
    }
}

/// The request line as nginx has it, cut at the first `?`.
pub fn uri(method: &str, path: &str, protocol: &str, ignore_case: bool) -> String {
    let line = match path.split_once('?') {
        Some((before, _)) => format!("{method} {before}"),
        None => format!("{method} {path} {protocol}"),
    };
    if ignore_case {
        line.to_ascii_lowercase()
    } else {
        line
    }
}

/// The query args by decoded name, each with its values in arrival order.
fn query_args(path: &str) -> BTreeMap<String, Vec<Arg>> {
    let mut args: BTreeMap<String, Vec<Arg>> = BTreeMap::new();
    for (name, value) in redis_filter_core::query::pairs(path) {
        let value = value.map_or(Arg::Bare, Arg::Value);
        args.entry(name).or_default().push(value);
    }
    args
}

/// One field in Kong's `k=v` form, or None when the request has no such field.
fn field(name: &str, values: &[Arg]) -> Option<String> {
    match values {
        [] => None,
        [Arg::Bare] => Some(name.to_string()),
        [Arg::Value(v)] => Some(format!("{name}={v}")),
        many => {
            let mut texts: Vec<&str> = many
                .iter()
                .map(|a| match a {
                    Arg::Bare => "",
                    Arg::Value(v) => v.as_str(),
                })
                .collect();
            texts.sort_unstable();
            Some(format!("{name}={}", texts.join(",")))
        }
    }
}

pub fn params_key(path: &str, vary: &[String]) -> String {
    let args = query_args(path);
    let fields: Vec<String> = if vary.is_empty() {
        args.iter().filter_map(|(k, v)| field(k, v)).collect()
    } else {
        vary.iter()
            .filter_map(|k| args.get(k).and_then(|v| field(k, v)))
            .collect()
    };
    fields.join(":")
}

/// `vary_headers` in their order, each looked up with `header` (case-insensitive).
pub fn headers_key(vary: &[String], header: impl Fn(&str) -> Option<String>) -> String {
    vary.iter()
        .filter_map(|name| {
            let value = header(name)?;
            field(name, &[Arg::Value(value)])
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// The cache key of a request.
pub fn build(
    parts: &KeyParts<'_>,
    vary_query_params: &[String],
    vary_headers: &[String],
    header: impl Fn(&str) -> Option<String>,
) -> String {
    let prefix = prefix(parts.consumer_id, parts.route_id);
    let uri = uri(
        parts.method,
        parts.path,
        parts.protocol,
        parts.ignore_uri_case,
    );
    let params = params_key(parts.path, vary_query_params);
    let headers = headers_key(vary_headers, header);
    sha256_hex(format!(
        "{prefix}|{}|{uri}|{params}|{headers}",
        parts.method
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_keeps_the_protocol_only_without_a_query() {
        assert_eq!(uri("GET", "/a?x=1", "HTTP/1.1", false), "GET /a");
        assert_eq!(uri("GET", "/a", "HTTP/1.1", false), "GET /a HTTP/1.1");
        assert_eq!(uri("GET", "/A/b?Q", "HTTP/1.1", true), "get /a/b");
    }

    #[test]
    fn params_sorted_decoded_repeated_and_bare() {
        assert_eq!(params_key("/p?b=2&a=1&c", &[]), "a=1:b=2:c");
        assert_eq!(params_key("/p?x=b&x=a", &[]), "x=a,b");
        assert_eq!(params_key("/p?q=a%20b+c&e=", &[]), "e=:q=a b c");
        assert_eq!(params_key("/p", &[]), "");
        let vary = vec!["b".to_string(), "a".to_string(), "z".to_string()];
        assert_eq!(params_key("/p?a=1&b=2&c=3", &vary), "b=2:a=1");
    }

    #[test]
    fn vary_headers_in_config_order() {
        let vary = vec!["X-Lang".to_string(), "accept".to_string()];
        let key = headers_key(&vary, |h| match h.to_ascii_lowercase().as_str() {
            "x-lang" => Some("fr".into()),
            _ => None,
        });
        assert_eq!(key, "X-Lang=fr");
    }

    #[test]
    fn the_key_is_the_sha256_of_kongs_string() {
        let parts = KeyParts {
            method: "GET",
            path: "/products?page=2",
            protocol: "HTTP/1.1",
            route_id: Some("r1"),
            ..KeyParts::default()
        };
        let key = build(&parts, &[], &[], |_| None);
        assert_eq!(key, sha256_hex("r1|GET|GET /products|page=2|"));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(prefix(Some("c"), Some("r")), "c:r");
        assert_eq!(prefix(Some("c"), None), "default");
    }
}
