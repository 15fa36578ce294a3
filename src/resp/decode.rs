//! A pipeline of N commands in, exactly N replies out.

use super::{scan, Command, RedisError, Reply, ServerError};
use redis_protocol::resp2::{decode::decode, types::OwnedFrame};

/// Deeper replies than this are refused: no Redis command a filter sends answers deeper.
const MAX_DEPTH: usize = 16;

pub fn encode_pipeline<'a>(commands: impl IntoIterator<Item = &'a Command>) -> Vec<u8> {
    let mut out = Vec::new();
    for c in commands {
        c.encode_into(&mut out);
    }
    out
}

/// Decodes exactly `expected` replies from `buf`: fewer is a truncated body, more is garbage.
pub fn decode_replies(buf: &[u8], expected: usize) -> Result<Vec<Reply>, RedisError> {
    let (replies, rest) = decode_some(buf, expected)?;
    if !rest.is_empty() {
        return Err(RedisError::Protocol(format!(
            "{} unexpected bytes after {expected} replies",
            rest.len()
        )));
    }
    Ok(replies)
}

/// Decodes the first `expected` replies of `buf` and returns the bytes after them.
pub fn decode_some(buf: &[u8], expected: usize) -> Result<(Vec<Reply>, &[u8]), RedisError> {
    let mut replies = Vec::with_capacity(expected.min(1024));
    let mut rest = buf;
    while replies.len() < expected {
        let truncated = || {
            RedisError::Protocol(format!(
                "truncated: {} of {expected} replies in {} bytes",
                replies.len(),
                buf.len()
            ))
        };
        let len = scan::frame_len(rest, MAX_DEPTH)
            .map_err(RedisError::Protocol)?
            .ok_or_else(truncated)?;
        let (frame_bytes, tail) = rest.split_at_checked(len).ok_or_else(truncated)?;
        let frame = match decode(frame_bytes) {
            Ok(Some((frame, used))) if used == len => frame,
            Ok(_) => return Err(truncated()),
            Err(e) => return Err(RedisError::Protocol(e.to_string())),
        };
        replies.push(to_reply(frame));
        rest = tail;
    }
    Ok((replies, rest))
}

/// Splits `buf` into whole frames; the bytes of an incomplete last frame are returned apart
/// (hosts use this to count the commands of a tunnelled pipeline and read as many replies).
pub fn split_frames(buf: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), RedisError> {
    let mut frames = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        match scan::frame_len(rest, MAX_DEPTH).map_err(RedisError::Protocol)? {
            Some(len) => match rest.split_at_checked(len) {
                Some((frame, tail)) => {
                    frames.push(frame);
                    rest = tail;
                }
                None => break,
            },
            None => break,
        }
    }
    Ok((frames, rest))
}

fn to_reply(frame: OwnedFrame) -> Reply {
    match frame {
        OwnedFrame::SimpleString(s) => Reply::Status(String::from_utf8_lossy(&s).into_owned()),
        OwnedFrame::Error(e) => Reply::Error(ServerError::parse(&e)),
        OwnedFrame::Integer(n) => Reply::Int(n),
        OwnedFrame::BulkString(b) => Reply::Bulk(b),
        OwnedFrame::Array(items) => Reply::Array(items.into_iter().map(to_reply).collect()),
        OwnedFrame::Null => Reply::Nil,
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
