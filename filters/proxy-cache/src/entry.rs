//! One cached response as stored (one Redis string, or one shared-data value): a line of JSON
//! metadata (`version`, `status`, `headers`, `timestamp`, `ttl`, `body_len`; for `memory` the
//! `expires_at` that Redis would otherwise keep as the key's TTL; `swr` / `sie` when it has
//! stale windows), a newline, then the body bytes exactly as received. Binary-safe, and
//! readable with `redis-cli GET`.

use crate::windows::Windows;
use serde_json::{json, Value};

/// Kong's `CACHE_VERSION`: an entry of another version is purged and the request bypasses.
pub const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub version: u64,
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it was stored, in seconds since the epoch (Kong: `ngx.time()`).
    pub timestamp: u64,
    /// The response's own TTL in seconds (Kong's `res.ttl`): what freshness is judged by.
    pub ttl: u64,
    /// Milliseconds since the epoch after which it is gone (shared data only; Redis expires
    /// the key itself).
    pub expires_at_ms: Option<u64>,
    /// How long past its freshness it may still be served (`stale_*`; absent: none).
    pub stale: Windows,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let headers: Vec<Value> = self.headers.iter().map(|(k, v)| json!([k, v])).collect();
        let mut meta = json!({
            "version": self.version,
            "status": self.status,
            "headers": headers,
            "timestamp": self.timestamp,
            "ttl": self.ttl,
            "body_len": self.body.len(),
        });
        if let Some(map) = meta.as_object_mut() {
            if let Some(at) = self.expires_at_ms {
                map.insert("expires_at".into(), json!(at));
            }
            if self.stale.while_revalidate > 0 {
                map.insert("swr".into(), json!(self.stale.while_revalidate));
            }
            if self.stale.if_error > 0 {
                map.insert("sie".into(), json!(self.stale.if_error));
            }
        }
        let mut out = meta.to_string().into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(raw: &[u8]) -> Result<Self, String> {
        let newline = raw
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("no metadata line")?;
        let (meta, rest) = raw.split_at(newline);
        let body = rest.get(1..).unwrap_or_default().to_vec();
        let meta: Value = serde_json::from_slice(meta).map_err(|e| format!("bad metadata: {e}"))?;
        let num = |name: &str| {
            meta.get(name)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("metadata lacks {name}"))
        };
        if num("body_len")? != body.len() as u64 {
            return Err("body length differs from the metadata".into());
        }
        let headers = meta
            .get("headers")
            .and_then(Value::as_array)
            .ok_or("metadata lacks headers")?
            .iter()
            .filter_map(|pair| {
                let k = pair.get(0)?.as_str()?;
                let v = pair.get(1)?.as_str()?;
                Some((k.to_string(), v.to_string()))
            })
            .collect();
        Ok(Self {
            version: num("version")?,
            status: u32::try_from(num("status")?).map_err(|e| e.to_string())?,
            headers,
            body,
            timestamp: num("timestamp")?,
            ttl: num("ttl")?,
            expires_at_ms: meta.get("expires_at").and_then(Value::as_u64),
            stale: Windows {
                while_revalidate: meta.get("swr").and_then(Value::as_u64).unwrap_or(0),
                if_error: meta.get("sie").and_then(Value::as_u64).unwrap_or(0),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_binary_bodies() {
        let e = Entry {
            version: VERSION,
            status: 200,
            headers: vec![("content-type".into(), "image/png".into())],
            body: vec![0, 10, 255, b'\n', 13],
            timestamp: 1_796_040_000,
            ttl: 300,
            expires_at_ms: Some(5),
            stale: Windows {
                while_revalidate: 3,
                if_error: 9,
            },
        };
        assert_eq!(Entry::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn a_damaged_entry_is_an_error() {
        assert!(Entry::decode(b"garbage").is_err());
        assert!(Entry::decode(b"{\"version\":1}\nbody").is_err());
        let e = Entry {
            version: 1,
            status: 200,
            headers: vec![],
            body: b"abc".to_vec(),
            timestamp: 1,
            ttl: 1,
            expires_at_ms: None,
            stale: Windows::default(),
        };
        let mut raw = e.encode();
        raw.pop();
        assert!(Entry::decode(&raw).unwrap_err().contains("length"));
    }
}
