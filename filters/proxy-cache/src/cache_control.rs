//! How Kong reads `Cache-Control`, `Expires` and `Content-Type` for caching (proxy-cache's
//! handler): directives as a map, a response's TTL, whether a request or a response may be
//! cached, and whether a stored entry still suits a request.

use std::collections::HashMap;

/// A directive's value: a number when it reads as one, else its text, or `Flag` with no `=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Flag,
    Number(f64),
    Text(String),
}

/// `Cache-Control` directives by lowercase name. Kong splits on `,`, reads `name[=value]` with
/// leading spaces dropped, and keeps the last of a repeated directive.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Directives(HashMap<String, Value>);

impl Directives {
    pub fn parse(header: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for part in header.unwrap_or("").split(',') {
            let part = part.trim_start();
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.split_once('=') {
                Some((n, v)) if !v.is_empty() => {
                    let value = match v.trim().parse::<f64>() {
                        Ok(n) if n.is_finite() => Value::Number(n),
                        _ => Value::Text(v.to_string()),
                    };
                    (n, value)
                }
                Some((n, _)) => (n, Value::Flag),
                None => (part, Value::Flag),
            };
            if name.is_empty() {
                continue;
            }
            map.insert(name.trim_end().to_ascii_lowercase(), value);
        }
        Self(map)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A numeric directive (`max-age=60`); one with text or no value counts as absent.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.0.get(name) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }
}

/// A response's TTL in seconds as Kong reads it: `s-maxage`, else `max-age`, else `Expires`
/// minus now; never below 0; 0 when none of them says.
pub fn resource_ttl(cc: &Directives, expires: Option<&str>, now_s: u64) -> u64 {
    if let Some(age) = cc.number("s-maxage").or_else(|| cc.number("max-age")) {
        return age.max(0.0) as u64;
    }
    let Some(at) = expires.and_then(|e| httpdate::parse_http_date(e.trim()).ok()) else {
        return 0;
    };
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    at.saturating_sub(now_s)
}

/// Type, subtype, parameters.
type Mime = (String, String, Vec<(String, String)>);

/// `type/subtype` and parameters, as Kong's `parse_mime_type` reads them: type, subtype and
/// parameter names lowercased, values as written (quotes dropped); spaces only around `;`; a
/// value that does not parse whole (`application/xml;`) is None. A bare `*` is `*/*`.
fn mime(s: &str) -> Option<Mime> {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let mut parts = s.split(';');
    let head = parts.next()?.trim_matches(|c| c == ' ' || c == '\t');
    let (t, sub) = match head.split_once('/') {
        Some((t, sub)) => (t, sub),
        None if head == "*" => ("*", "*"),
        None => return None,
    };
    if !token(t) || !token(sub) {
        return None;
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for p in parts {
        let (k, v) = p.trim_matches(|c| c == ' ' || c == '\t').split_once('=')?;
        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted,
            None if token(v) => v,
            None => return None,
        };
        if !token(k) {
            return None;
        }
        params.push((k.to_ascii_lowercase(), v.to_string()));
    }
    Some((t.to_ascii_lowercase(), sub.to_ascii_lowercase(), params))
}

/// Whether a response's `Content-Type` is one of `configured`: type and subtype equal (or `*`
/// in the configured one), and the same parameters with the same values, no more, no fewer
/// (`application/json; charset=utf-8` is not `application/json`).
pub fn content_type_matches(configured: &[String], content_type: &str) -> bool {
    let Some((t, sub, params)) = mime(content_type) else {
        return false;
    };
    configured
        .iter()
        .filter_map(|c| mime(c))
        .any(|(ct, csub, cparams)| {
            (ct == "*" || ct == t)
                && (csub == "*" || csub == sub)
                && cparams.len() == params.len()
                && cparams
                    .iter()
                    .all(|(k, v)| params.iter().any(|(pk, pv)| pk == k && pv == v))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_as_kong_reads_them() {
        let d = Directives::parse(Some("public, max-age=60, s-maxage=\"x\", No-Store"));
        assert_eq!(d.number("max-age"), Some(60.0));
        assert!(d.has("public") && d.has("no-store"));
        assert_eq!(d.number("s-maxage"), None, "text is not a number");
        assert!(!Directives::parse(None).has("public"));
    }

    #[test]
    fn ttl_from_s_maxage_then_max_age_then_expires() {
        let now = 1_796_040_000; // 2026-11-30T12:00:00Z
        let d = Directives::parse(Some("max-age=60, s-maxage=10"));
        assert_eq!(resource_ttl(&d, None, now), 10);
        let d = Directives::parse(Some("max-age=60"));
        assert_eq!(resource_ttl(&d, None, now), 60);
        let d = Directives::parse(Some("max-age=-5"));
        assert_eq!(resource_ttl(&d, None, now), 0);
        let d = Directives::parse(Some("public"));
        let expires = "Mon, 30 Nov 2026 12:01:40 GMT";
        assert_eq!(resource_ttl(&d, Some(expires), now), 100);
        assert_eq!(resource_ttl(&d, Some("garbage"), now), 0);
        assert_eq!(resource_ttl(&d, None, now), 0);
    }

    #[test]
    fn content_types_match_as_in_kong() {
        let json = vec!["application/json".to_string()];
        assert!(content_type_matches(&json, "application/json"));
        assert!(content_type_matches(&json, "Application/JSON"));
        assert!(!content_type_matches(
            &json,
            "application/json; charset=utf-8"
        ));
        assert!(!content_type_matches(&json, "text/plain"));
        let utf8 = vec!["application/json; charset=utf-8".to_string()];
        assert!(content_type_matches(
            &utf8,
            "application/json;charset=utf-8"
        ));
        assert!(!content_type_matches(&utf8, "application/json"));
        let any = vec!["*/*".to_string(), "text/*".to_string()];
        assert!(content_type_matches(&any, "image/png"));
        assert!(content_type_matches(&["text/*".to_string()], "text/html"));
        assert!(!content_type_matches(&["text/*".to_string()], "image/png"));
        assert!(!content_type_matches(&json, ""));
        assert!(
            !content_type_matches(&json, "application/json;"),
            "does not parse"
        );
        let quoted = vec!["text/html; charset=\"utf-8\"".to_string()];
        assert!(content_type_matches(&quoted, "text/html; charset=utf-8"));
        assert!(!content_type_matches(&quoted, "text/html; charset=UTF-8"));
        assert!(!content_type_matches(
            &["*/*".to_string()],
            "text/plain; a=b"
        ));
    }
}
