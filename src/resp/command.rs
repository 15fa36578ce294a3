//! A Redis command as binary-safe arguments, and its RESP encoding.

use std::borrow::Cow;

/// Anything that can be one argument of a command, as Redis sees it (bytes).
pub trait Arg {
    fn to_arg(&self) -> Cow<'_, [u8]>;
}

impl Arg for [u8] {
    fn to_arg(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl Arg for Vec<u8> {
    fn to_arg(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl Arg for str {
    fn to_arg(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl Arg for String {
    fn to_arg(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn to_arg(&self) -> Cow<'_, [u8]> {
        (**self).to_arg()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn to_arg(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.to_string().into_bytes())
            }
        }
    )*};
}
int_arg!(i32, i64, f64);
macro_rules! unsigned_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn to_arg(&self) -> Cow<'_, [u8]> {
                Cow::Owned(crate::decimal::string(*self as u64).into_bytes())
            }
        }
    )*};
}
unsigned_arg!(u32, u64, usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    args: Vec<Vec<u8>>,
}

impl Command {
    pub fn new(name: &str) -> Self {
        Self {
            args: vec![name.as_bytes().to_vec()],
        }
    }

    pub fn arg(mut self, a: impl Arg) -> Self {
        self.args.push(a.to_arg().into_owned());
        self
    }

    pub fn args<A: Arg>(mut self, items: impl IntoIterator<Item = A>) -> Self {
        self.args
            .extend(items.into_iter().map(|a| a.to_arg().into_owned()));
        self
    }

    /// The command name in upper case (`EVALSHA`), for routing and error mapping.
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .unwrap_or_default()
    }

    pub fn arguments(&self) -> &[Vec<u8>] {
        &self.args
    }

    /// This EVALSHA as the EVAL of `source`: the name and the digest replaced, keys and
    /// arguments kept.
    pub fn as_eval(&self, source: &str) -> Command {
        let mut eval = self.clone();
        if let Some(name) = eval.args.get_mut(0) {
            *name = b"EVAL".to_vec();
        }
        if let Some(body) = eval.args.get_mut(1) {
            *body = source.as_bytes().to_vec();
        }
        eval
    }

    /// Appends the RESP encoding: an array of bulk strings, any byte allowed.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        push_header(out, b'*', self.args.len());
        for a in &self.args {
            push_header(out, b'$', a.len());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    pub fn encoded_len(&self) -> usize {
        self.args.iter().map(|a| a.len() + 16).sum::<usize>() + 16
    }
}

fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(crate::decimal::string(n as u64).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_protocol::resp2::{encode::encode, types::OwnedFrame};

    #[test]
    fn encodes_binary_safe_arguments_like_redis_protocol() {
        let cmd = Command::new("SET")
            .arg("k\r\n")
            .arg(&b"\0\xff\r\n$3"[..])
            .arg(42);
        let mut ours = Vec::new();
        cmd.encode_into(&mut ours);
        let frame = OwnedFrame::Array(
            cmd.arguments()
                .iter()
                .map(|a| OwnedFrame::BulkString(a.clone()))
                .collect(),
        );
        let mut theirs = vec![0u8; ours.len()];
        assert_eq!(encode(&mut theirs, &frame, false).unwrap(), ours.len());
        assert_eq!(ours, theirs);
        assert_eq!(&ours[..8], b"*4\r\n$3\r\n");
    }

    #[test]
    fn name_is_upper_case() {
        assert_eq!(Command::new("evalsha").name(), "EVALSHA");
    }
}
