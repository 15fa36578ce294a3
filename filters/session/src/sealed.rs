//! `storage: cookie` (Kong's default): the whole session in the cookie, sealed with
//! AES-256-GCM under a key derived from `secret` (the client can neither read nor change it;
//! any change fails the tag). The value is base64url(12-byte nonce || ciphertext || tag); the
//! cookie name and the audience are bound in as associated data.

use crate::config::Config;
use crate::cookie::{b64url, b64url_decode};
use crate::store::Session;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use redis_filter_core::identity::Consumer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const NONCE_BYTES: usize = 12;

fn cipher(key: &[u8]) -> Option<Aes256Gcm> {
    let derived = Sha256::digest([b"redis-session:cookie:".as_slice(), key].concat());
    Aes256Gcm::new_from_slice(&derived).ok()
}

fn aad(config: &Config, name: &str) -> String {
    format!("{name}\n{}", config.audience)
}

/// The value of cookie `name` carrying `session` (`nonce` from the host's random source).
pub fn seal(
    config: &Config,
    name: &str,
    key: &[u8],
    nonce: &[u8; NONCE_BYTES],
    session: &Session,
) -> Option<String> {
    let plain = json!({
        "c": session.consumer.to_json(),
        "a": session.auth_time,
        "r": session.rolling_start,
        "s": session.last_seen,
        "j": session.subject,
    })
    .to_string();
    let aad = aad(config, name);
    let payload = Payload {
        msg: plain.as_bytes(),
        aad: aad.as_bytes(),
    };
    let sealed = cipher(key)?
        .encrypt(Nonce::from_slice(nonce), payload)
        .ok()?;
    Some(b64url(&[nonce.as_slice(), &sealed].concat()))
}

/// The session the value of cookie `name` carries, if it opens under this key, name and
/// audience.
pub fn open(config: &Config, name: &str, key: &[u8], value: &str) -> Option<Session> {
    let raw = b64url_decode(value)?;
    if raw.len() <= NONCE_BYTES {
        return None;
    }
    let (nonce, sealed) = raw.split_at(NONCE_BYTES);
    let aad = aad(config, name);
    let payload = Payload {
        msg: sealed,
        aad: aad.as_bytes(),
    };
    let plain = cipher(key)?
        .decrypt(Nonce::from_slice(nonce), payload)
        .ok()?;
    read(&plain)
}

/// The session in a cookie's opened plaintext (JSON), if it has every field.
pub fn read(plain: &[u8]) -> Option<Session> {
    let data: Value = serde_json::from_slice(plain).ok()?;
    let number = |name: &str| data.get(name).and_then(Value::as_u64);
    Some(Session {
        consumer: Consumer::from_json(data.get("c")?)?,
        auth_time: number("a")?,
        rolling_start: number("r")?,
        last_seen: number("s")?,
        subject: data
            .get("j")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            consumer: Consumer {
                id: "c1".into(),
                username: Some("alice".into()),
                ..Consumer::default()
            },
            auth_time: 100,
            rolling_start: 200,
            last_seen: 300,
            subject: "alice".into(),
        }
    }

    #[test]
    fn sealed_sessions_open_only_untouched_and_under_their_key() {
        let c = Config::parse(br#"{"storage": "cookie", "secret": "s"}"#).unwrap();
        let v = seal(&c, "session", b"s", &[1; NONCE_BYTES], &session()).unwrap();
        assert_eq!(open(&c, "session", b"s", &v), Some(session()));
        assert_eq!(open(&c, "session", b"other", &v), None);
        assert_eq!(open(&c, "remember", b"s", &v), None, "another cookie");
        let other = Config::parse(br#"{"storage": "cookie", "audience": "x"}"#).unwrap();
        assert_eq!(open(&other, "session", b"s", &v), None, "another audience");
        let mut bytes = v.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(open(&c, "session", b"s", &tampered), None);
        assert_eq!(open(&c, "session", b"s", &v[..v.len() - 4]), None);
        assert!(!v.contains("alice"), "the client cannot read it");
    }
}
