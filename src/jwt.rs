//! Finding a JWT where Kong looks for one, and reading it as Kong's jwt parser does (for
//! redis-jwt, and redis-jwt-blacklist, which must find the same token).

use crate::hmac::{constant_time_eq, hmac, Sha};
use serde_json::Value;
use std::collections::BTreeSet;

/// What a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    None,
    One(String),
    /// Different tokens in different places (or a repeated query arg): Kong refuses them.
    Many,
}

/// Where a token may be: Kong's `uri_param_names`, `cookie_names`, `header_names`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub uri_param_names: Vec<String>,
    pub cookie_names: Vec<String>,
    pub header_names: Vec<String>,
}

impl Places {
    /// Kong jwt's three lists from a filter's config (`[jwt]`, `[]`, `[authorization]` by
    /// default).
    pub fn read(top: &mut crate::config::Fields) -> Result<Self, crate::config::ConfigError> {
        let mut list = |name: &str, default: &[&str]| -> Result<Vec<String>, _> {
            Ok(match top.strings(name)? {
                Some(v) => v.into_iter().map(str::to_string).collect(),
                None => default.iter().map(|s| s.to_string()).collect(),
            })
        };
        Ok(Self {
            uri_param_names: list("uri_param_names", &["jwt"])?,
            cookie_names: list("cookie_names", &[])?,
            header_names: list("header_names", &["authorization"])?,
        })
    }
}

/// Kong's `retrieve_tokens`: every non-empty token of the `uri_param_names` query args, the
/// `cookie_names` cookies and the `header_names` headers (`[Bb]earer <token>`), the same token
/// found twice counting once.
pub fn retrieve(places: &Places, path: &str, header: impl Fn(&str) -> Option<String>) -> Found {
    let mut set = BTreeSet::new();
    let args = crate::query::pairs(path);
    for name in &places.uri_param_names {
        for (k, v) in &args {
            if k == name {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    set.insert(v.clone());
                }
            }
        }
    }
    let cookies = header("cookie").unwrap_or_default();
    for name in &places.cookie_names {
        let value = cookies.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        });
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            set.insert(v);
        }
    }
    for name in &places.header_names {
        if let Some(token) = header(name).as_deref().and_then(bearer) {
            set.insert(token.to_string());
        }
    }
    let mut tokens = set.into_iter();
    match (tokens.next(), tokens.next()) {
        (None, _) => Found::None,
        (Some(t), None) => Found::One(t),
        _ => Found::Many,
    }
}

/// `\s*[Bb]earer\s+(.+)`: the token after the scheme, if any.
fn bearer(value: &str) -> Option<&str> {
    let v = value.trim_start();
    let rest = v
        .strip_prefix("Bearer")
        .or_else(|| v.strip_prefix("bearer"))?;
    let token = rest.strip_prefix(|c: char| c.is_whitespace())?.trim_start();
    (!token.is_empty()).then_some(token)
}

/// Kong's base64 for JWT parts and secrets: url-safe or not, padding optional.
pub use crate::base64::decode_lenient as base64_decode;

/// Every algorithm Kong's parser knows (a token naming another is "invalid alg").
const KNOWN: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA",
];

/// A decoded token.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

/// Kong's `decode_token`: the error is what follows "Bad token; ".
pub fn decode(token: &str) -> Result<Jwt, &'static str> {
    let mut parts = token.splitn(3, '.');
    let (header_64, claims_64, signature_64) = (parts.next(), parts.next(), parts.next());
    let json = |part: Option<&str>| -> Option<Value> {
        serde_json::from_slice(&base64_decode(part?)?).ok()
    };
    let (Some(header), Some(claims)) = (json(header_64), json(claims_64)) else {
        return Err("invalid JSON");
    };
    let Some(signature_64) = signature_64 else {
        return Err("invalid JSON");
    };
    let alg = header.get("alg").and_then(Value::as_str);
    if !alg.is_some_and(|a| KNOWN.contains(&a)) {
        return Err("invalid alg");
    }
    if claims.is_null() {
        return Err("invalid claims");
    }
    let signature = base64_decode(signature_64).ok_or("invalid signature")?;
    Ok(Jwt {
        signing_input: format!("{}.{}", header_64.unwrap_or(""), claims_64.unwrap_or("")),
        header,
        claims,
        signature,
    })
}

impl Jwt {
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// Kong's key claim: from the claims, then the header; a number counts as its text.
    pub fn key(&self, name: &str) -> Option<String> {
        let value = self.claims.get(name).or_else(|| self.header.get(name))?;
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Null | Value::Bool(false) => None,
            other => Some(other.to_string()),
        }
    }

    /// What the signature signs: the header and claims as sent, base64url, joined by a dot.
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The HMAC signature checked in constant time (HS256, HS384, HS512).
    pub fn verify_hmac(&self, secret: &[u8]) -> bool {
        let sha = match self.alg() {
            "HS256" => Sha::S256,
            "HS384" => Sha::S384,
            "HS512" => Sha::S512,
            _ => return false,
        };
        let mac = hmac(sha, secret, self.signing_input.as_bytes());
        constant_time_eq(&self.signature, &mac)
    }

    /// Kong's `verify_registered_claims`: each claim's error by name.
    pub fn claim_errors(&self, claims: &[&str], now_s: f64) -> serde_json::Map<String, Value> {
        let mut errors = serde_json::Map::new();
        for name in claims {
            let error = match self.claims.get(*name).and_then(Value::as_f64) {
                None => "must be a number",
                Some(nbf) if *name == "nbf" && nbf > now_s => "token not valid yet",
                Some(exp) if *name == "exp" && exp <= now_s => "token expired",
                Some(_) => continue,
            };
            errors.insert((*name).to_string(), Value::String(error.into()));
        }
        errors
    }

    /// Kong's `check_maximum_expiration`.
    pub fn exceeds(&self, maximum: f64, now_s: f64) -> bool {
        match self.claims.get("exp").and_then(Value::as_f64) {
            Some(exp) => exp - now_s > maximum,
            None => true,
        }
    }
}

/// Tokens for tests, signed here.
/// Tokens signed here, for tests (of this library and of the filters).
pub mod testing {
    use super::*;

    pub use crate::base64::b64url as b64;

    /// A token signed with `secret`.
    pub fn sign(alg: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes()),
            b64(claims.as_bytes())
        );
        let sha = match alg {
            "HS384" => Sha::S384,
            "HS512" => Sha::S512,
            _ => Sha::S256,
        };
        format!("{input}.{}", b64(&hmac(sha, secret, input.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn places(cookies: &[&str]) -> Places {
        Places {
            uri_param_names: vec!["jwt".into()],
            cookie_names: cookies.iter().map(|c| c.to_string()).collect(),
            header_names: vec!["authorization".into()],
        }
    }

    #[test]
    fn tokens_are_found_where_kong_looks() {
        let c = places(&["jwt"]);
        let none = |_: &str| None;
        assert_eq!(retrieve(&c, "/p?jwt=abc", none), Found::One("abc".into()));
        assert_eq!(retrieve(&c, "/p?jwt=", none), Found::None);
        assert_eq!(retrieve(&c, "/p?jwt=a&jwt=b", none), Found::Many);
        assert_eq!(retrieve(&c, "/p?jwt=a&jwt=a", none), Found::One("a".into()));
        let bearer = |h: &str| (h == "authorization").then(|| "  bearer xyz".to_string());
        assert_eq!(retrieve(&c, "/p", bearer), Found::One("xyz".into()));
        assert_eq!(retrieve(&c, "/p?jwt=abc", bearer), Found::Many);
        let cookie = |h: &str| (h == "cookie").then(|| "a=1; jwt=ck".to_string());
        assert_eq!(retrieve(&c, "/p", cookie), Found::One("ck".into()));
        let basic = |h: &str| (h == "authorization").then(|| "Basic abc".to_string());
        assert_eq!(retrieve(&c, "/p", basic), Found::None);
    }

    #[test]
    fn tokens_read_as_kongs_parser_reads_them() {
        let t = sign("HS256", r#"{"iss":"k1","exp":2000}"#, b"secret");
        let jwt = decode(&t).unwrap();
        assert_eq!(jwt.key("iss").as_deref(), Some("k1"));
        assert!(jwt.verify_hmac(b"secret"));
        assert!(!jwt.verify_hmac(b"other"));
        assert!(jwt.claim_errors(&["exp"], 1000.0).is_empty());
        assert_eq!(jwt.claim_errors(&["exp"], 2000.0)["exp"], "token expired");
        assert_eq!(
            jwt.claim_errors(&["nbf"], 1000.0)["nbf"],
            "must be a number"
        );
        assert!(jwt.exceeds(500.0, 1000.0) && !jwt.exceeds(1500.0, 1000.0));
        for alg in ["HS384", "HS512"] {
            assert!(decode(&sign(alg, "{}", b"s")).unwrap().verify_hmac(b"s"));
        }
        assert_eq!(decode("garbage").unwrap_err(), "invalid JSON");
        assert_eq!(decode("a.b").unwrap_err(), "invalid JSON");
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(b"{}"));
        assert_eq!(decode(&none).unwrap_err(), "invalid alg");
        let null = format!("{}.{}.x", b64(br#"{"alg":"HS256"}"#), b64(b"null"));
        assert_eq!(decode(&null).unwrap_err(), "invalid claims");
        let bad_sig = format!("{}.{}.*", b64(br#"{"alg":"HS256"}"#), b64(b"{}"));
        assert_eq!(decode(&bad_sig).unwrap_err(), "invalid signature");
    }
}
