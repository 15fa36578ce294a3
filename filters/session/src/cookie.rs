//! The session cookie: `<name>=<sid>.<mac>`, the session id (32 random bytes) and the first 16
//! bytes of HMAC-SHA256 over the audience and the id, both base64url without padding; its
//! attributes in lua-resty-session's order (Domain, Path, SameSite, Secure, HttpOnly).

use crate::config::Config;
pub use redis_filter_core::base64::{b64url, b64url_decode};
use redis_filter_core::hmac::{constant_time_eq, hmac_sha256};
use sha2::{Digest, Sha256};

/// Bytes of randomness in a session id.
pub const SID_BYTES: usize = 32;
const MAC_BYTES: usize = 16;

/// The MAC key: `secret`, else one derived from the config (then the MAC only keeps garbage
/// out; the random id is what no one can guess).
pub fn key(config: &Config) -> Vec<u8> {
    match &config.secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            let seed = format!("redis-session:{}:{}", config.cookie_name, config.audience);
            Sha256::digest(seed.as_bytes()).to_vec()
        }
    }
}

fn mac(key: &[u8], audience: &str, sid: &str) -> Vec<u8> {
    let message = format!("{audience}\n{sid}");
    hmac_sha256(key, message.as_bytes())
        .iter()
        .take(MAC_BYTES)
        .copied()
        .collect()
}

/// The cookie value for a session id (base64url).
pub fn value(key: &[u8], audience: &str, sid: &str) -> String {
    format!("{sid}.{}", b64url(&mac(key, audience, sid)))
}

/// The session id a cookie value carries, if its MAC holds (checked in constant time).
pub fn verify(key: &[u8], audience: &str, value: &str) -> Option<String> {
    let (sid, tag) = value.split_once('.')?;
    let raw = b64url_decode(sid)?;
    if raw.len() != SID_BYTES {
        return None;
    }
    let tag = b64url_decode(tag)?;
    constant_time_eq(&tag, &mac(key, audience, sid)).then(|| sid.to_string())
}

/// A cookie's value in a `Cookie` header (the first of that name).
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

fn attributes(config: &Config) -> String {
    let mut out = String::new();
    if let Some(domain) = config
        .cookie_domain
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "localhost")
    {
        out.push_str(&format!("; Domain={domain}"));
    }
    out.push_str(&format!("; Path={}", config.cookie_path));
    out.push_str(&format!("; SameSite={}", config.cookie_same_site));
    if config.cookie_secure || config.cookie_same_site == "None" {
        out.push_str("; Secure");
    }
    if config.cookie_http_only {
        out.push_str("; HttpOnly");
    }
    out
}

/// `Set-Cookie` for a session (a browser-session cookie: no Expires, as Kong's).
pub fn set_cookie(config: &Config, value: &str) -> String {
    format!("{}={value}{}", config.cookie_name, attributes(config))
}

/// lua-resty-session's cap on a persistent cookie's life (400 days is what browsers keep).
const MAX_AGE_CAP: u64 = 34_560_000;

/// `Set-Cookie` for a remember cookie: persistent for `remember_rolling_timeout`.
pub fn set_remember_cookie(config: &Config, value: &str, now_s: u64) -> String {
    let age = match config.remember_rolling_timeout {
        0 => MAX_AGE_CAP,
        t => t.min(MAX_AGE_CAP),
    };
    let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now_s + age);
    format!(
        "{}={value}{}; Expires={}; Max-Age={age}",
        config.remember_cookie_name,
        attributes(config),
        httpdate::fmt_http_date(expires)
    )
}

fn cleared(config: &Config, name: &str) -> String {
    format!(
        "{name}={}; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
        attributes(config)
    )
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie(config: &Config) -> String {
    cleared(config, &config.cookie_name)
}

/// `Set-Cookie` that ends the remember cookie in the browser.
pub fn clear_remember_cookie(config: &Config) -> String {
    cleared(config, &config.remember_cookie_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::parse(format!(r#"{{"storage": "redis"{extra}}}"#).as_bytes()).unwrap()
    }

    #[test]
    fn a_signed_id_verifies_and_a_tampered_one_does_not() {
        let key = key(&config(r#", "secret": "s3cret""#));
        let sid = b64url(&[7u8; SID_BYTES]);
        let v = value(&key, "default", &sid);
        assert_eq!(verify(&key, "default", &v), Some(sid.clone()));
        assert_eq!(verify(&key, "other", &v), None, "another audience");
        assert_eq!(verify(b"other key", "default", &v), None);
        let mut tampered = v.clone();
        tampered.replace_range(0..1, "C");
        assert_eq!(verify(&key, "default", &tampered), None);
        assert_eq!(
            verify(&key, "default", &v[..v.len() - 2]),
            None,
            "truncated"
        );
        assert_eq!(verify(&key, "default", "garbage"), None);
        assert_eq!(
            verify(&key, "default", &format!("{}.x", b64url(b"short"))),
            None
        );
    }

    #[test]
    fn cookies_carry_kongs_attributes() {
        let c = config("");
        assert_eq!(
            set_cookie(&c, "v"),
            "session=v; Path=/; SameSite=Strict; Secure; HttpOnly"
        );
        let c = config(
            r#", "cookie_name": "kong_session", "cookie_domain": "example.com", "cookie_secure": false, "cookie_same_site": "Lax""#,
        );
        assert_eq!(
            set_cookie(&c, "v"),
            "kong_session=v; Domain=example.com; Path=/; SameSite=Lax; HttpOnly"
        );
        assert!(clear_cookie(&c).starts_with("kong_session=; Domain=example.com"));
        assert!(clear_cookie(&c).ends_with("Max-Age=0"));
        assert_eq!(
            find("a=1; kong_session=xyz; b=2", "kong_session"),
            Some("xyz")
        );
        assert_eq!(find("a=1", "kong_session"), None);
    }
}
