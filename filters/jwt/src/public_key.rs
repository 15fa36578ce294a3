//! The public keys of the asymmetric algorithms (Kong's `rsa_public_key`, a PEM for every one of
//! them): parsed once by jwt-simple, then each signature checked over the token's signing input
//! with the primitive jwt-simple wraps; ES512, which jwt-simple lacks, with RustCrypto's p521. Kong's order of checks (and its messages) stay ours:
//! jwt-simple's own `verify_token` would also judge the claims, by its rules.

use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ECDSAP384PublicKeyLike, ES256PublicKey, ES384PublicKey,
    Ed25519PublicKey, EdDSAPublicKeyLike, RS256PublicKey, RSAPublicKeyLike,
};
use p256::ecdsa::signature::Verifier as _;
use superboring::hash::MessageDigest;
use superboring::pkey::{PKey, Public};
use superboring::rsa::Padding;
use superboring::sign::Verifier;

/// The algorithms checked with a public key.
pub const ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

enum Key {
    Rsa(PKey<Public>),
    P256(ES256PublicKey),
    P384(ES384PublicKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(Ed25519PublicKey),
}

/// A parsed public key, for the one algorithm its credential names.
pub struct PublicKey {
    pem: String,
    algorithm: &'static str,
    key: Key,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({}, {} bytes of PEM)",
            self.algorithm,
            self.pem.len()
        )
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.pem == other.pem
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// The PEM read for `algorithm` (SPKI, or PKCS#1 for RSA); the error says why not.
    pub fn parse(algorithm: &'static str, pem: &str) -> Result<Self, String> {
        let error = |e: jwt_simple::Error| format!("invalid key ({algorithm}: {e})");
        let key = match algorithm {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
                let rsa = RS256PublicKey::from_pem(pem).map_err(error)?;
                let rsa = rsa.public_key().as_ref().clone();
                Key::Rsa(PKey::from_rsa(rsa).map_err(|_| "invalid key (RSA)".to_string())?)
            }
            "ES256" => Key::P256(ES256PublicKey::from_pem(pem).map_err(error)?),
            "ES384" => Key::P384(ES384PublicKey::from_pem(pem).map_err(error)?),
            "ES512" => {
                use p521::pkcs8::DecodePublicKey;
                let key = p521::ecdsa::VerifyingKey::from_public_key_pem(pem.trim());
                Key::P521(key.map_err(|e| format!("invalid key (ES512: {e})"))?)
            }
            "EdDSA" => Key::Ed25519(Ed25519PublicKey::from_pem(pem).map_err(error)?),
            other => return Err(format!("{other} takes no public key")),
        };
        Ok(Self {
            pem: pem.to_string(),
            algorithm,
            key,
        })
    }

    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// Whether `signature` signs `input` (ECDSA signatures are JOSE's raw r || s).
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            Key::Rsa(pkey) => self.verify_rsa(pkey, input, signature).unwrap_or(false),
            Key::P256(key) => p256::ecdsa::Signature::try_from(signature)
                .is_ok_and(|s| key.public_key().as_ref().verify(input, &s).is_ok()),
            Key::P384(key) => p384::ecdsa::Signature::try_from(signature)
                .is_ok_and(|s| key.public_key().as_ref().verify(input, &s).is_ok()),
            Key::P521(key) => p521::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify(input, &s).is_ok()),
            Key::Ed25519(key) => ed25519_compact::Signature::from_slice(signature)
                .is_ok_and(|s| key.public_key().as_ref().verify(input, &s).is_ok()),
        }
    }

    fn verify_rsa(&self, pkey: &PKey<Public>, input: &[u8], signature: &[u8]) -> Option<bool> {
        let (digest, padding) = match self.algorithm {
            "RS256" => (MessageDigest::sha256(), Padding::PKCS1),
            "RS384" => (MessageDigest::sha384(), Padding::PKCS1),
            "RS512" => (MessageDigest::sha512(), Padding::PKCS1),
            "PS256" => (MessageDigest::sha256(), Padding::PKCS1_PSS),
            "PS384" => (MessageDigest::sha384(), Padding::PKCS1_PSS),
            "PS512" => (MessageDigest::sha512(), Padding::PKCS1_PSS),
            _ => return None,
        };
        let mut verifier = Verifier::new(digest, pkey).ok()?;
        // Always set: superboring's verifier panics on a padding left unset.
        verifier.set_rsa_padding(padding).ok()?;
        verifier.update(input).ok()?;
        verifier.verify(signature).ok()
    }
}

/// Key pairs and tokens signed with them, for tests (here and, with the `testing` feature, the
/// end-to-end tests).
/// Key pairs and tokens signed with them, for the tests (this crate's and the end-to-end ones).
/// Native builds only: a filter never carries it, and the harness and the tests link the same
/// build of this crate (a cargo feature would make the tests rebuild the harness).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)]
pub mod testing {
    use jwt_simple::prelude::*;

    /// A token of `algorithm` with these claims (a JSON object), and the public key's PEM.
    pub fn sign(algorithm: &str, claims: &str) -> (String, String) {
        let claims: JWTClaims<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(claims).unwrap();
        match algorithm {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
                let pair = rsa_pair();
                let pem = pair.public_key().to_pem().unwrap();
                let der = pair.to_der().unwrap();
                let token = match algorithm {
                    "RS256" => pair.sign(claims),
                    "RS384" => RS384KeyPair::from_der(&der).unwrap().sign(claims),
                    "RS512" => RS512KeyPair::from_der(&der).unwrap().sign(claims),
                    "PS256" => PS256KeyPair::from_der(&der).unwrap().sign(claims),
                    "PS384" => PS384KeyPair::from_der(&der).unwrap().sign(claims),
                    _ => PS512KeyPair::from_der(&der).unwrap().sign(claims),
                };
                (token.unwrap(), pem)
            }
            "ES256" => {
                let pair = ES256KeyPair::generate();
                (
                    pair.sign(claims).unwrap(),
                    pair.public_key().to_pem().unwrap(),
                )
            }
            "ES384" => {
                let pair = ES384KeyPair::generate();
                (
                    pair.sign(claims).unwrap(),
                    pair.public_key().to_pem().unwrap(),
                )
            }
            "ES512" => es512(&claims),
            _ => {
                let pair = Ed25519KeyPair::generate();
                (pair.sign(claims).unwrap(), pair.public_key().to_pem())
            }
        }
    }

    /// ES512 by hand (jwt-simple has no P-521): a key from random bytes, JOSE's raw r || s.
    fn es512(claims: &JWTClaims<serde_json::Map<String, serde_json::Value>>) -> (String, String) {
        use p521::ecdsa::signature::Signer;
        use p521::pkcs8::{EncodePublicKey, LineEnding};
        use redis_filter_core::base64::b64url as b64;
        let mut scalar = [0u8; 66];
        loop {
            scalar[1..].copy_from_slice(&jwt_simple::reexports::rand::random::<[u8; 65]>());
            if let Ok(key) = p521::ecdsa::SigningKey::from_slice(&scalar) {
                let header = b64(br#"{"alg":"ES512","typ":"JWT"}"#);
                let body = b64(serde_json::to_string(claims).unwrap().as_bytes());
                let input = format!("{header}.{body}");
                let signature: p521::ecdsa::Signature = key.sign(input.as_bytes());
                let pem = key
                    .verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                return (format!("{input}.{}", b64(&signature.to_bytes())), pem);
            }
        }
    }

    /// The PEM of a key of `algorithm`'s kind other than the one `sign` signs with.
    pub fn another_key(algorithm: &str) -> String {
        use std::sync::OnceLock;
        static RSA: OnceLock<String> = OnceLock::new();
        match algorithm {
            a if a.starts_with("RS") || a.starts_with("PS") => RSA
                .get_or_init(|| {
                    let pair = RS256KeyPair::generate(2048).unwrap();
                    pair.public_key().to_pem().unwrap()
                })
                .clone(),
            other => sign(other, "{}").1,
        }
    }

    /// One RSA key pair per test binary (2048-bit generation takes a while).
    fn rsa_pair() -> RS256KeyPair {
        use std::sync::OnceLock;
        static DER: OnceLock<Vec<u8>> = OnceLock::new();
        let der = DER.get_or_init(|| RS256KeyPair::generate(2048).unwrap().to_der().unwrap());
        RS256KeyPair::from_der(der).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::sign;
    use super::*;

    fn parts(token: &str) -> (String, Vec<u8>) {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = redis_filter_core::base64::b64url_decode(signature).unwrap();
        (input.to_string(), signature)
    }

    #[test]
    fn every_algorithm_verifies_its_own_signature_and_no_other() {
        for algorithm in ALGORITHMS {
            let (token, pem) = sign(algorithm, r#"{"iss":"k"}"#);
            let key = PublicKey::parse(algorithm, &pem).unwrap();
            let (input, signature) = parts(&token);
            assert!(key.verify(input.as_bytes(), &signature), "{algorithm}");
            assert!(!key.verify(b"other input", &signature), "{algorithm}");
            let mut flipped = signature.clone();
            flipped[3] ^= 1;
            assert!(!key.verify(input.as_bytes(), &flipped), "{algorithm}");
            assert!(
                !key.verify(input.as_bytes(), &signature[..10]),
                "{algorithm}"
            );
            assert!(!key.verify(input.as_bytes(), b""), "{algorithm}");
        }
    }

    #[test]
    fn a_key_of_another_kind_or_garbage_is_refused() {
        let (_, ec_pem) = sign("ES256", "{}");
        assert!(PublicKey::parse("RS256", &ec_pem).is_err());
        assert!(PublicKey::parse("EdDSA", &ec_pem).is_err());
        assert!(PublicKey::parse("ES384", &ec_pem).is_err());
        assert!(PublicKey::parse(
            "RS256",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
        )
        .is_err());
        assert!(PublicKey::parse("ES256", "").is_err());
        assert!(PublicKey::parse("HS256", &ec_pem).is_err());
    }
}
