//! Tokens as a client sends them: found in the query, cookies or headers, decoded, their claims
//! checked, their signatures verified with HMAC and with public keys of every kind.

use crate::engine::Target;
use redis_filter_core::jwt::{decode, retrieve, testing, Places};
use redis_jwt::public_key::{self, PublicKey};
use std::sync::OnceLock;

const CLAIMS: &str = r#"{"iss":"k","exp":4102444800,"nbf":1,"jti":"j"}"#;

/// A token and a public key of each kind.
fn signed() -> &'static Vec<(String, PublicKey)> {
    static SIGNED: OnceLock<Vec<(String, PublicKey)>> = OnceLock::new();
    SIGNED.get_or_init(|| {
        ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
            .into_iter()
            .filter_map(|alg| {
                let (token, pem) = public_key::testing::sign(alg, CLAIMS);
                PublicKey::parse(alg, &pem).ok().map(|key| (token, key))
            })
            .collect()
    })
}

pub const TARGET: Target = Target {
    name: "jwt",
    seeds: || {
        let mut seeds: Vec<Vec<u8>> = ["HS256", "HS384", "HS512"]
            .into_iter()
            .map(|alg| testing::sign(alg, CLAIMS, b"secret").into_bytes())
            .collect();
        seeds.extend(signed().iter().map(|(t, _)| t.clone().into_bytes()));
        seeds.push(testing::sign("none", "{}", b"").into_bytes());
        seeds
    },
    dictionary: &[
        ".",
        "eyJ",
        "\"alg\":\"RS256\"",
        "\"exp\":",
        "1e309",
        "null",
        "=",
        "+",
        "/",
    ],
    run: |input| {
        let token = super::text(input);
        let places = Places {
            uri_param_names: vec!["jwt".into()],
            cookie_names: vec!["c".into()],
            header_names: vec!["authorization".into()],
        };
        let path = format!("/p?jwt={token}&jwt={token}");
        let header = |name: &str| match name {
            "cookie" => Some(format!("c={token}; d=1")),
            _ => Some(format!("Bearer {token}")),
        };
        let _ = retrieve(&places, &path, header);
        let Ok(jwt) = decode(&token) else {
            return;
        };
        let _ = (jwt.alg(), jwt.key("iss"), jwt.key("kid"));
        let _ = jwt.verify_hmac(b"secret");
        let _ = jwt.claim_errors(&["exp", "nbf"], 1.7e9);
        let _ = jwt.exceeds(3600.0, 1.7e9);
        for (_, key) in signed() {
            let _ = key.verify(jwt.signing_input().as_bytes(), jwt.signature());
        }
        let _ = redis_jwt_blacklist::revoked::id(Some(&jwt), &token);
    },
};
