//! A header map with case-insensitive names (names are stored lower-case, as HTTP/2 and Envoy
//! do), lent to the guest through proxy-wasm-host's `HeaderMap`.

use crate::call_counts::{count, Counted};
use proxy_wasm_host::{HeaderMap, NotAllowed, PairVisitor};
use std::borrow::Cow;
use std::ops::ControlFlow;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn lower(key: &[u8]) -> Vec<u8> {
    key.to_ascii_lowercase()
}

impl Headers {
    pub fn from_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (lower(k.as_ref()), v.as_ref().to_vec()))
                .collect(),
        }
    }

    pub fn get_str(&self, key: &str) -> Option<String> {
        let key = lower(key.as_bytes());
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn set_str(&mut self, key: &str, value: &str) {
        self.replace(key.as_bytes(), value.as_bytes());
    }

    /// One pair, where the first one was (the others all come after it).
    fn replace(&mut self, key: &[u8], value: &[u8]) {
        let key = lower(key);
        let first = self.pairs.iter().position(|(k, _)| *k == key);
        self.pairs.retain(|(k, _)| *k != key);
        let at = first.unwrap_or(self.pairs.len());
        self.pairs.insert(at, (key, value.to_vec()));
    }

    fn delete(&mut self, key: &[u8]) {
        let key = lower(key);
        self.pairs.retain(|(k, _)| *k != key);
    }

    pub fn remove_str(&mut self, key: &str) {
        self.delete(key.as_bytes());
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

impl HeaderMap for Headers {
    // The trait's methods are the guest's host calls, counted; the harness uses the ones above.
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        count(Counted::GetHeaderMapValue);
        let key = lower(key);
        let values: Vec<&[u8]> = self
            .pairs
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
            .collect();
        match values.len() {
            0 => None,
            1 => Some(Cow::Borrowed(values[0])),
            _ => Some(Cow::Owned(values.join(&b","[..]))),
        }
    }

    fn for_each_pair(&self, f: &mut PairVisitor<'_>) -> ControlFlow<()> {
        count(Counted::GetHeaderMapPairs);
        for (k, v) in &self.pairs {
            f(k, v)?;
        }
        ControlFlow::Continue(())
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), NotAllowed> {
        count(Counted::ReplaceHeaderMapValue);
        self.replace(key, value);
        Ok(())
    }

    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), NotAllowed> {
        count(Counted::AddHeaderMapValue);
        self.pairs.push((lower(key), value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), NotAllowed> {
        count(Counted::RemoveHeaderMapValue);
        self.delete(key);
        Ok(())
    }

    fn replace_all(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), NotAllowed> {
        count(Counted::SetHeaderMapPairs);
        self.pairs = pairs.iter().map(|(k, v)| (lower(k), v.to_vec())).collect();
        Ok(())
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_set_replaces_all() {
        let mut h = Headers::from_pairs([("X-A", "1"), ("x-a", "2")]);
        assert_eq!(HeaderMap::get(&h, b"x-A").as_deref(), Some(&b"1,2"[..]));
        h.set_str("X-a", "3");
        assert_eq!(h.len(), 1);
        assert_eq!(h.get_str("x-a").as_deref(), Some("3"));
    }
}
