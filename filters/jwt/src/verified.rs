//! Public-key signatures this worker has already checked. An RSA or ECDSA check costs a
//! millisecond or more in the Wasm VM, and a client sends the same token with every request:
//! a token whose signature one key verified is not checked again under that same key (the same
//! parsed key, so a credential replaced in the config or in Redis is checked afresh) for
//! `TTL_MS`. Only successes are kept; the claims (`exp`, `nbf`) are still checked per request.

use crate::public_key::PublicKey;
use std::collections::HashMap;
use std::rc::Rc;

const TTL_MS: u64 = 60_000;
/// Tokens one worker keeps at most; past it, expired ones go, then all.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    signature: Vec<u8>,
    key: Rc<PublicKey>,
    until_ms: u64,
}

#[derive(Default)]
pub struct Verified {
    /// By signing input (the token's header and claims as sent).
    entries: HashMap<String, Entry>,
}

impl Verified {
    pub fn knows(&self, input: &str, signature: &[u8], key: &Rc<PublicKey>, now_ms: u64) -> bool {
        self.entries.get(input).is_some_and(|e| {
            now_ms < e.until_ms && Rc::ptr_eq(&e.key, key) && e.signature == signature
        })
    }

    pub fn remember(&mut self, input: &str, signature: &[u8], key: &Rc<PublicKey>, now_ms: u64) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(input) {
            self.entries.retain(|_, e| now_ms < e.until_ms);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        let entry = Entry {
            signature: signature.to_vec(),
            key: key.clone(),
            until_ms: now_ms.saturating_add(TTL_MS),
        };
        self.entries.insert(input.to_string(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_key::testing::sign;

    #[test]
    fn only_the_same_signature_under_the_same_key_within_the_ttl() {
        let (_, pem) = sign("ES256", "{}");
        let key = Rc::new(PublicKey::parse("ES256", &pem).unwrap());
        let same_pem_new_parse = Rc::new(PublicKey::parse("ES256", &pem).unwrap());
        let mut v = Verified::default();
        assert!(!v.knows("a.b", b"sig", &key, 0));
        v.remember("a.b", b"sig", &key, 0);
        assert!(v.knows("a.b", b"sig", &key, TTL_MS - 1));
        assert!(!v.knows("a.b", b"sig", &key, TTL_MS));
        assert!(!v.knows("a.b", b"other", &key, 1));
        assert!(!v.knows("a.b", b"sig", &same_pem_new_parse, 1));
        for i in 0..MAX_ENTRIES + 5 {
            v.remember(&format!("t{i}"), b"s", &key, 1);
        }
        assert!(v.entries.len() <= MAX_ENTRIES);
    }
}
