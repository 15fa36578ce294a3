//! `redis-filters credentials`: puts, lists, rotates and deletes the credentials redis-jwt
//! reads from Redis (`filters/jwt/src/store.rs` has the layout). Each value is checked as the
//! filter will check it before it is written.

use crate::set_field;
use redis_filter_core::resp::{decode_replies, encode_pipeline, split_frames};
use redis_filter_core::{Command, Reply};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const DEFAULT_PREFIX: &str = "redis_jwt:credential:";

/// One connection to Redis, one command at a time; on a Cluster it follows `MOVED` to the node
/// that owns the key (so any node will do as the address).
pub struct Redis {
    stream: TcpStream,
    password: Option<String>,
    db: Option<String>,
}

impl Redis {
    pub fn connect(addr: &str, password: Option<&str>, db: Option<&str>) -> Result<Self, String> {
        let mut redis = Self {
            stream: open(addr)?,
            password: password.map(str::to_string),
            db: db.map(str::to_string),
        };
        redis.hello()?;
        Ok(redis)
    }

    fn hello(&mut self) -> Result<(), String> {
        if let Some(password) = self.password.clone() {
            self.once(&Command::new("AUTH").arg(password.as_str()))?;
        }
        if let Some(db) = self.db.clone() {
            self.once(&Command::new("SELECT").arg(db.as_str()))?;
        }
        Ok(())
    }

    pub fn call(&mut self, command: Command) -> Result<Reply, String> {
        for _ in 0..5 {
            match self.once(&command) {
                Err(e) if e.contains("MOVED ") => {
                    let addr = e.rsplit(' ').next().unwrap_or_default().to_string();
                    self.stream = open(&addr)?;
                    self.hello()?;
                }
                other => return other,
            }
        }
        Err(format!("{}: too many redirections", command.name()))
    }

    fn once(&mut self, command: &Command) -> Result<Reply, String> {
        let name = command.name();
        self.stream
            .write_all(&encode_pipeline([command]))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("redis closed the connection".into());
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            let (frames, _) = split_frames(&buf).map_err(|e| e.to_string())?;
            if let Some(frame) = frames.first() {
                let reply = decode_replies(frame, 1).map_err(|e| e.to_string())?;
                let reply = reply.into_iter().next().ok_or("no reply")?;
                return reply.into_result().map_err(|e| format!("{name}: {e}"));
            }
        }
    }
}

fn open(addr: &str) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("redis {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    Ok(stream)
}

/// What one run does.
pub enum Action {
    /// A consumer with one credential (replaces what the key had).
    Put {
        consumer: Value,
        secret: Value,
    },
    /// A new credential in front; the previous one stays until `Retire`.
    Rotate {
        secret: Value,
    },
    /// The end of a rotation: only the newest credential stays.
    Retire,
    Delete,
    List,
}

/// Runs `action` on `key` (ignored by `List`); returns what to print.
pub fn run(redis: &mut Redis, prefix: &str, key: &str, action: Action) -> Result<String, String> {
    let redis_key = format!("{prefix}{key}");
    let stored = |redis: &mut Redis| -> Result<Value, String> {
        match redis.call(Command::new("GET").arg(redis_key.as_str()))? {
            Reply::Bulk(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            _ => Err(format!("no credential {key:?}")),
        }
    };
    let consumer = match action {
        Action::List => return list(redis, prefix),
        Action::Delete => {
            let n = redis.call(Command::new("DEL").arg(redis_key.as_str()))?;
            return Ok(format!(
                "deleted {} credential key(s)",
                n.as_int().unwrap_or(0)
            ));
        }
        Action::Put {
            mut consumer,
            secret,
        } => {
            set_field(&mut consumer, "jwt_secrets", json!([with_key(secret, key)]));
            consumer
        }
        Action::Rotate { secret } => {
            let mut consumer = stored(redis)?;
            let previous = newest_secret(&consumer);
            let secrets: Vec<Value> = std::iter::once(with_key(secret, key))
                .chain(previous)
                .collect();
            set_field(&mut consumer, "jwt_secrets", Value::Array(secrets));
            consumer
        }
        Action::Retire => {
            let mut consumer = stored(redis)?;
            let newest = newest_secret(&consumer);
            set_field(
                &mut consumer,
                "jwt_secrets",
                Value::Array(newest.into_iter().collect()),
            );
            consumer
        }
    };
    redis_jwt::config::consumer(&format!("credential {key:?}"), &consumer)
        .map_err(|e| e.to_string())?;
    redis.call(
        Command::new("SET")
            .arg(redis_key.as_str())
            .arg(consumer.to_string()),
    )?;
    Ok(format!("{key}: {}", summary(&consumer)))
}

/// The first of a stored consumer's credentials: the newest.
fn newest_secret(consumer: &Value) -> Option<Value> {
    consumer.get("jwt_secrets")?.get(0).cloned()
}

fn with_key(mut secret: Value, key: &str) -> Value {
    set_field(&mut secret, "key", json!(key));
    secret
}

/// A consumer and its credentials' algorithms, never the secrets.
fn summary(consumer: &Value) -> String {
    let algorithms: Vec<&str> = consumer["jwt_secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["algorithm"].as_str().unwrap_or("HS256"))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "consumer {} ({}), {} credential(s): {}",
        consumer["id"].as_str().unwrap_or("?"),
        consumer["username"].as_str().unwrap_or("-"),
        algorithms.len(),
        algorithms.join(", ")
    )
}

fn list(redis: &mut Redis, prefix: &str) -> Result<String, String> {
    let mut cursor = "0".to_string();
    let mut lines = Vec::new();
    loop {
        let scan = Command::new("SCAN")
            .arg(cursor.as_str())
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg("500");
        let Reply::Array(parts) = redis.call(scan)? else {
            return Err("unexpected reply to SCAN".into());
        };
        let mut parts = parts.into_iter();
        let next = parts.next().and_then(|r| r.as_bytes().map(<[u8]>::to_vec));
        cursor = String::from_utf8_lossy(&next.unwrap_or_default()).into_owned();
        if let Some(Reply::Array(keys)) = parts.next() {
            for key in keys {
                let Some(key) = key.as_bytes().map(<[u8]>::to_vec) else {
                    continue;
                };
                let key = String::from_utf8_lossy(&key).into_owned();
                let reply = redis.call(Command::new("GET").arg(key.as_str()))?;
                let value: Value = reply
                    .as_bytes()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                let name = key.strip_prefix(prefix).unwrap_or(&key);
                lines.push(format!("{name}: {}", summary(&value)));
            }
        }
        if cursor == "0" {
            break;
        }
    }
    lines.sort();
    Ok(lines.join("\n"))
}
