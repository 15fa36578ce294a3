//! What can go wrong talking to Redis: a typed server error reply, or a failed exchange.

use std::fmt;

/// The kind of an error reply, from its first word (`-MOVED 3999 127.0.0.1:6381`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerErrorKind {
    Moved {
        slot: u16,
        addr: String,
    },
    Ask {
        slot: u16,
        addr: String,
    },
    NoScript,
    NoAuth,
    WrongPass,
    ReadOnly,
    Loading,
    Busy,
    /// `-ERR ...`, the generic error.
    Err,
    /// Any other prefix (`WRONGTYPE`, `NOPERM`, `CROSSSLOT`, ...).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub kind: ServerErrorKind,
    /// The whole error line, without the leading `-`.
    pub message: String,
}

impl ServerError {
    pub fn parse(line: &str) -> Self {
        let mut words = line.split_ascii_whitespace();
        let first = words.next().unwrap_or("");
        let redirect = |words: &mut std::str::SplitAsciiWhitespace| {
            let slot = words.next()?.parse().ok()?;
            let addr = words.next()?.to_string();
            Some((slot, addr))
        };
        let kind = match first {
            "MOVED" => match redirect(&mut words) {
                Some((slot, addr)) => ServerErrorKind::Moved { slot, addr },
                None => ServerErrorKind::Other(first.to_string()),
            },
            "ASK" => match redirect(&mut words) {
                Some((slot, addr)) => ServerErrorKind::Ask { slot, addr },
                None => ServerErrorKind::Other(first.to_string()),
            },
            "NOSCRIPT" => ServerErrorKind::NoScript,
            "NOAUTH" => ServerErrorKind::NoAuth,
            "WRONGPASS" => ServerErrorKind::WrongPass,
            "READONLY" => ServerErrorKind::ReadOnly,
            "LOADING" => ServerErrorKind::Loading,
            "BUSY" => ServerErrorKind::Busy,
            "ERR" => ServerErrorKind::Err,
            other => ServerErrorKind::Other(other.to_string()),
        };
        Self {
            kind,
            message: line.to_string(),
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a Redis exchange failed as a whole. Filters map every variant to their fault-tolerance
/// rules; none of them is a reason to panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    /// An error reply where the exchange cannot go on (AUTH or SELECT refused, a redirect we
    /// cannot follow, a script that failed).
    Server(ServerError),
    /// No answer within the configured timeout.
    Timeout,
    /// The host could not carry the call (dispatch refused, tunnel answered non-200, no node).
    Transport(String),
    /// The bytes that came back are not the replies we asked for (garbled, truncated, extra).
    Protocol(String),
    /// Too many requests already waiting for this node; refused at once instead of queueing.
    Overloaded,
    /// Recent calls failed; this one was not attempted (the back-off after repeated failures).
    Unavailable,
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Server(e) => write!(f, "redis error: {e}"),
            RedisError::Timeout => f.write_str("redis timeout"),
            RedisError::Transport(m) => write!(f, "redis transport error: {m}"),
            RedisError::Protocol(m) => write!(f, "redis protocol error: {m}"),
            RedisError::Overloaded => f.write_str("redis queue full"),
            RedisError::Unavailable => f.write_str("redis unavailable (backing off)"),
        }
    }
}

impl std::error::Error for RedisError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_typed_error() {
        let k = |s: &str| ServerError::parse(s).kind;
        assert_eq!(
            k("MOVED 3999 127.0.0.1:6381"),
            ServerErrorKind::Moved {
                slot: 3999,
                addr: "127.0.0.1:6381".into()
            }
        );
        assert_eq!(
            k("ASK 12 10.0.0.1:7002"),
            ServerErrorKind::Ask {
                slot: 12,
                addr: "10.0.0.1:7002".into()
            }
        );
        assert_eq!(k("NOSCRIPT No matching script."), ServerErrorKind::NoScript);
        assert_eq!(
            k("NOAUTH Authentication required."),
            ServerErrorKind::NoAuth
        );
        assert_eq!(
            k("WRONGPASS invalid username-password pair"),
            ServerErrorKind::WrongPass
        );
        assert_eq!(
            k("READONLY You can't write against a read only replica."),
            ServerErrorKind::ReadOnly
        );
        assert_eq!(
            k("LOADING Redis is loading the dataset in memory"),
            ServerErrorKind::Loading
        );
        assert_eq!(
            k("BUSY Redis is busy running a script."),
            ServerErrorKind::Busy
        );
        assert_eq!(k("ERR unknown command"), ServerErrorKind::Err);
        assert_eq!(
            k("WRONGTYPE Operation"),
            ServerErrorKind::Other("WRONGTYPE".into())
        );
    }

    #[test]
    fn malformed_redirect_is_not_a_redirect() {
        assert_eq!(
            ServerError::parse("MOVED x").kind,
            ServerErrorKind::Other("MOVED".into())
        );
        assert_eq!(
            ServerError::parse("").kind,
            ServerErrorKind::Other(String::new())
        );
    }
}
