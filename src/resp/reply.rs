//! One reply of Redis, as filters read it.

use super::{RedisError, ServerError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// Nil bulk string or nil array.
    Nil,
    Array(Vec<Reply>),
    Error(ServerError),
}

impl Reply {
    /// The reply as an integer (integers, and bulk strings holding one, as GET of a counter).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }

    pub fn error(&self) -> Option<&ServerError> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Turns an error reply into `Err`, for callers that treat any error reply as failure.
    pub fn into_result(self) -> Result<Reply, RedisError> {
        match self {
            Reply::Error(e) => Err(RedisError::Server(e)),
            other => Ok(other),
        }
    }
}
