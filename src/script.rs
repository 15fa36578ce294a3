//! Lua scripts run with EVALSHA, and the EVAL that replaces it when Redis answers NOSCRIPT.

use crate::resp::{Arg, Command};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Shared with the requests that may need it (`Request::script`), not copied into each.
    source: Arc<str>,
    sha1: String,
}

impl Script {
    pub fn new(source: impl Into<String>) -> Self {
        let source: String = source.into();
        let sha1 = sha1_smol::Sha1::from(source.as_bytes())
            .digest()
            .to_string();
        Self {
            source: source.into(),
            sha1,
        }
    }

    /// The source, shared.
    pub fn shared_source(&self) -> Arc<str> {
        self.source.clone()
    }

    pub fn sha1(&self) -> &str {
        &self.sha1
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// `EVALSHA sha numkeys keys... args...`
    pub fn evalsha<K: Arg, A: Arg>(&self, keys: &[K], args: &[A]) -> Command {
        self.call("EVALSHA", &self.sha1, keys, args)
    }

    /// `EVAL source numkeys keys... args...`
    pub fn eval<K: Arg, A: Arg>(&self, keys: &[K], args: &[A]) -> Command {
        self.call("EVAL", &self.source, keys, args)
    }

    fn call<K: Arg, A: Arg>(&self, verb: &str, body: &str, keys: &[K], args: &[A]) -> Command {
        Command::new(verb)
            .arg(body)
            .arg(keys.len())
            .args(keys)
            .args(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_what_redis_computes() {
        // SCRIPT LOAD "return 1" answers this digest.
        assert_eq!(
            Script::new("return 1").sha1(),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn evalsha_and_eval_share_keys_and_args() {
        let s = Script::new("return KEYS[1]");
        let sha = s.evalsha(&["k1", "k2"], &[5]);
        assert_eq!(sha.arguments().len(), 6);
        assert_eq!(sha.arguments()[2], b"2");
        let eval = s.eval(&["k1", "k2"], &[5]);
        assert_eq!(eval.arguments()[1], b"return KEYS[1]");
        assert_eq!(eval.arguments()[3..], sha.arguments()[3..]);
        assert_eq!(sha.as_eval(s.source()), eval);
    }
}
