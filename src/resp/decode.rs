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
        let (frame_bytes, tail) = next_frame(rest)?.ok_or_else(truncated)?;
        let frame = match decode(frame_bytes) {
            Ok(Some((frame, used))) if used == frame_bytes.len() => frame,
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
    while let Some((frame, tail)) = next_frame(rest)? {
        frames.push(frame);
        rest = tail;
    }
    Ok((frames, rest))
}

/// A whole frame and the bytes after it.
type Split<'a> = (&'a [u8], &'a [u8]);

/// The first whole frame of `buf` and the bytes after it; `None` if `buf` ends before it does.
fn next_frame(buf: &[u8]) -> Result<Option<Split<'_>>, RedisError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let len = scan::frame_len(buf, MAX_DEPTH).map_err(RedisError::Protocol)?;
    Ok(len.and_then(|len| buf.split_at_checked(len)))
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
