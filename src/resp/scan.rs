//! A structural pre-check of one RESP2 frame: where it ends, without recursion or allocation per
//! element, so that a hostile or garbled body (`*1\r\n` a million times) cannot overflow the
//! stack of the decoder that runs after it.

/// Length in bytes of the first complete frame of `buf`; `Ok(None)` if `buf` ends before it does.
pub(super) fn frame_len(buf: &[u8], max_depth: usize) -> Result<Option<usize>, String> {
    let mut pos = 0;
    // Elements still expected by each array that is open around `pos`.
    let mut open: Vec<u64> = Vec::new();
    loop {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(end) = find_crlf(buf, pos + 1) else {
            return Ok(None);
        };
        let line = buf.get(pos + 1..end).unwrap_or_default();
        pos = end + 2;
        match kind {
            b'+' | b'-' => {}
            b':' => {
                parse_int(line).ok_or("invalid integer reply")?;
            }
            b'$' => {
                if let Some(n) = parse_len(line)? {
                    let n = usize::try_from(n).map_err(|_| "bulk string too long")?;
                    let Some(tail) = buf.get(pos + n..pos + n + 2) else {
                        return Ok(None);
                    };
                    if tail != b"\r\n" {
                        return Err("bulk string not terminated by CRLF".into());
                    }
                    pos += n + 2;
                }
            }
            b'*' => {
                if let Some(n) = parse_len(line)?.filter(|n| *n > 0) {
                    if open.len() >= max_depth {
                        return Err(format!("reply nested deeper than {max_depth} levels"));
                    }
                    open.push(n);
                    continue;
                }
            }
            other => return Err(format!("unexpected byte {other:#04x} where a reply starts")),
        }
        // One element is complete: close every array it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some(pos)),
                Some(left) if *left > 1 => {
                    *left -= 1;
                    break;
                }
                Some(_) => {
                    open.pop();
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|i| i + from)
}

fn parse_int(line: &[u8]) -> Option<i64> {
    std::str::from_utf8(line).ok()?.parse().ok()
}

/// A length prefix: `-1` is nil (`None`), other negatives are invalid. 512 MB is Redis' own
/// limit for a bulk string.
fn parse_len(line: &[u8]) -> Result<Option<u64>, String> {
    match parse_int(line) {
        Some(-1) => Ok(None),
        Some(n) if (0..=512 * 1024 * 1024).contains(&n) => Ok(Some(n as u64)),
        _ => Err(format!(
            "invalid length {:?}",
            String::from_utf8_lossy(line)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_nested_frames() {
        let buf = b"*2\r\n*1\r\n:1\r\n$3\r\nabc\r\n+OK\r\n";
        assert_eq!(frame_len(buf, 8).unwrap(), Some(buf.len() - 5));
        assert_eq!(frame_len(b"*0\r\n", 8).unwrap(), Some(4));
        assert_eq!(frame_len(b"*-1\r\n", 8).unwrap(), Some(5));
        assert_eq!(frame_len(b"$-1\r\n", 8).unwrap(), Some(5));
    }

    #[test]
    fn incomplete_is_none() {
        assert_eq!(frame_len(b"$5\r\nab", 8).unwrap(), None);
        assert_eq!(frame_len(b"*2\r\n:1\r\n", 8).unwrap(), None);
        assert_eq!(frame_len(b"+OK", 8).unwrap(), None);
        assert_eq!(frame_len(b"*100000\r\n:1\r\n", 8).unwrap(), None);
        assert!(frame_len(b"*100000000000\r\n", 8).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let buf = b"*1\r\n".repeat(100_000);
        assert!(frame_len(&buf, 16).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(frame_len(b"HTTP/1.1 200 OK\r\n", 8).is_err());
        assert!(frame_len(b"$3\r\nabcd\r\n", 8).is_err());
        assert!(frame_len(b"$-2\r\n", 8).is_err());
        assert!(frame_len(b":x\r\n", 8).is_err());
    }
}
