//! Revoked tokens in Redis: one key per token, `<key_prefix><id>`, where the id is the token's
//! `jti` claim, else the SHA-256 (hex) of the whole token; its TTL is the time the token has
//! left, so the key goes when the token would have expired anyway. A lookup is one `EXISTS`.

use redis_filter_core::hmac::sha256_hex;
use redis_filter_core::job::{Pipeline, Request};
use redis_filter_core::jwt::Jwt;
use redis_filter_core::{Command, Outcome, Reply};

/// A token's id: its `jti`, else the SHA-256 of the token.
pub fn id(jwt: Option<&Jwt>, token: &str) -> String {
    jwt.and_then(|j| j.claims.get("jti"))
        .and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
        .unwrap_or_else(|| sha256_hex(token))
}

pub fn lookup_job(key: &str, max_redirections: u32) -> Pipeline {
    let exists = Command::new("EXISTS").arg(key);
    Pipeline::new(vec![Request::keyed(exists, key)], max_redirections)
}

pub fn revoke_job(key: &str, ttl_s: u64, max_redirections: u32) -> Pipeline {
    let set = Command::new("SET")
        .arg(key)
        .arg("1")
        .arg("EX")
        .arg(ttl_s.max(1).to_string());
    Pipeline::new(vec![Request::keyed(set, key)], max_redirections)
}

fn first(outcome: Outcome) -> Result<Reply, String> {
    let replies = outcome.map_err(|e| e.to_string())?;
    let reply = replies.into_iter().next().ok_or("no reply")?;
    reply.into_result().map_err(|e| e.to_string())
}

/// Whether the token is revoked.
pub fn is_revoked(outcome: Outcome) -> Result<bool, String> {
    first(outcome)?
        .as_int()
        .map(|n| n > 0)
        .ok_or_else(|| "unexpected reply to EXISTS".to_string())
}

pub fn revoked(outcome: Outcome) -> Result<(), String> {
    match first(outcome)? {
        r if r.is_ok() => Ok(()),
        other => Err(format!("unexpected reply to SET: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::jwt::{decode, testing::sign};

    #[test]
    fn ids_and_replies() {
        let with = sign("HS256", r#"{"jti":"t-1"}"#, b"s");
        assert_eq!(id(decode(&with).ok().as_ref(), &with), "t-1");
        let without = sign("HS256", r#"{"iss":"k"}"#, b"s");
        assert_eq!(id(decode(&without).ok().as_ref(), &without).len(), 64);
        assert_eq!(is_revoked(Ok(vec![Reply::Int(1)])), Ok(true));
        assert_eq!(is_revoked(Ok(vec![Reply::Int(0)])), Ok(false));
        assert!(revoked(Ok(vec![Reply::Status("OK".into())])).is_ok());
    }
}
