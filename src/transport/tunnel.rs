//! The RESP tunnel: a pipeline travels as the body of `POST /` to the host upstream that turns it
//! into raw TCP to the Redis node named in `:authority`. The body is `[AUTH] [SELECT] cmds QUIT`;
//! the replies come back as the response body, one per command.

use crate::config::{NodeAddr, RedisConfig, RedisMode};
use crate::resp::{decode_some, Command, RedisError, Reply};

/// TLS the filter asks of the tunnel for its calls to Redis (Kong's `ssl`, `ssl_verify`,
/// `server_name`), carried by each call's headers: `x-redis-tls: verify` (check the node's
/// certificate against the host's CA bundle and the name) or `x-redis-tls: on` (encrypt, check
/// nothing), and `x-redis-server-name` (SNI, and the name checked; else the node's host). A
/// tunnel that cannot do TLS must refuse such a call, never send it in plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsAsk {
    pub verify: bool,
    pub server_name: Option<String>,
}

impl TlsAsk {
    pub fn from_config(config: &RedisConfig) -> Option<Self> {
        config.ssl.then(|| Self {
            verify: config.ssl_verify,
            server_name: config.server_name.clone(),
        })
    }
}

/// What the host handed back for one tunnelled call.
#[derive(Debug, Clone, Default)]
pub struct CallResponse {
    /// `:status`, when the host got an HTTP answer at all.
    pub status: Option<u16>,
    /// Kong's `:dispatch_status` pseudo-header ("timeout", "broken connection", ...) or any
    /// other reason the host gave for not answering.
    pub failure: Option<String>,
    pub body: Vec<u8>,
}

/// The commands that open every tunnelled connection (AUTH, SELECT) and close it (QUIT).
#[derive(Debug, Clone)]
pub struct Framing {
    auth: Option<Command>,
    select: Option<Command>,
    quit: bool,
}

impl Framing {
    pub fn new(config: &RedisConfig) -> Self {
        let auth = config.password.as_ref().map(|pw| match &config.username {
            Some(user) => Command::new("AUTH").arg(user).arg(pw),
            None => Command::new("AUTH").arg(pw),
        });
        // A cluster has database 0 only and refuses SELECT; Kong's cluster client ignores it too.
        let clustered = matches!(config.mode, RedisMode::Cluster { .. });
        let select = (config.database != 0 && !clustered)
            .then(|| Command::new("SELECT").arg(config.database));
        Self {
            auth,
            select,
            quit: true,
        }
    }

    /// No AUTH, no SELECT: commands and QUIT.
    pub fn bare() -> Self {
        Self {
            auth: None,
            select: None,
            quit: true,
        }
    }

    /// For calls to a sentinel: `sentinel_username` / `sentinel_password`, no SELECT.
    pub fn sentinel(config: &RedisConfig) -> Self {
        let auth = config
            .sentinel_password
            .as_ref()
            .map(|pw| match &config.sentinel_username {
                Some(user) => Command::new("AUTH").arg(user).arg(pw),
                None => Command::new("AUTH").arg(pw),
            });
        Self {
            auth,
            select: None,
            quit: true,
        }
    }

    /// For a host that keeps its own authenticated, pooled connection (Higress'
    /// `proxy_redis_call`): no AUTH (the host sent it) and no QUIT (it would close the pool's
    /// connection).
    pub fn pooled(config: &RedisConfig) -> Self {
        Self {
            auth: None,
            quit: false,
            ..Self::new(config)
        }
    }

    fn preamble(&self) -> impl Iterator<Item = &Command> {
        self.auth.iter().chain(self.select.iter())
    }

    /// The request headers of a tunnelled call to `node` that may take `timeout_ms` (a bridge
    /// that talks to Redis itself, Kong's, bounds its connect and reads by it), with TLS when
    /// asked.
    pub fn headers(
        node: &NodeAddr,
        timeout_ms: u32,
        tls: Option<&TlsAsk>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (":method", "POST".to_string()),
            (":path", "/".to_string()),
            (":authority", node.to_string()),
            ("content-type", "application/x-redis-resp".to_string()),
            ("x-redis-timeout", timeout_ms.to_string()),
        ];
        if let Some(tls) = tls {
            let mode = if tls.verify { "verify" } else { "on" };
            headers.push(("x-redis-tls", mode.to_string()));
            if let Some(name) = &tls.server_name {
                headers.push(("x-redis-server-name", name.clone()));
            }
        }
        headers
    }

    /// The body: preamble, the commands, QUIT.
    pub fn body<'a>(&self, commands: impl IntoIterator<Item = &'a Command>) -> Vec<u8> {
        let mut out = Vec::new();
        for c in self.preamble() {
            c.encode_into(&mut out);
        }
        for c in commands {
            c.encode_into(&mut out);
        }
        if self.quit {
            Command::new("QUIT").encode_into(&mut out);
        }
        out
    }

    /// Checks the answer and returns the replies of the `n` commands, the preamble's and QUIT's
    /// replies checked and stripped. A QUIT reply may be missing (the connection closed first).
    pub fn replies(&self, response: &CallResponse, n: usize) -> Result<Vec<Reply>, RedisError> {
        let status = match (response.status, &response.failure) {
            (Some(s), _) => s,
            (None, Some(reason)) if reason.contains("timeout") => return Err(RedisError::Timeout),
            (None, Some(reason)) => return Err(RedisError::Transport(reason.clone())),
            (None, None) => {
                return Err(RedisError::Transport("no response from the tunnel".into()))
            }
        };
        if status == 504 || status == 408 {
            return Err(RedisError::Timeout);
        }
        if status != 200 {
            let snippet =
                String::from_utf8_lossy(response.body.get(..120).unwrap_or(&response.body));
            return Err(RedisError::Transport(format!(
                "tunnel answered {status}: {}",
                snippet.trim_end()
            )));
        }
        let pre = self.preamble().count();
        let (mut replies, rest) = decode_some(&response.body, pre + n)?;
        if !(rest.is_empty() || (self.quit && quit_reply(rest))) {
            return Err(RedisError::Protocol(format!(
                "{} unexpected bytes where QUIT's +OK belongs",
                rest.len()
            )));
        }
        for reply in replies.drain(..pre) {
            match reply {
                Reply::Error(e) => return Err(RedisError::Server(e)),
                r if r.is_ok() => {}
                other => {
                    return Err(RedisError::Protocol(format!(
                        "AUTH/SELECT answered {other:?}"
                    )))
                }
            }
        }
        Ok(replies)
    }
}

/// What may follow the replies: QUIT's `+OK`, or the error line of a server without QUIT
/// (redis-sentinel 7.0 answers `-ERR unknown command 'QUIT'`; it then closes the connection
/// when the tunnel ends the request).
fn quit_reply(rest: &[u8]) -> bool {
    rest == b"+OK\r\n"
        || (rest.starts_with(b"-")
            && rest.ends_with(b"\r\n")
            && !rest
                .get(..rest.len() - 2)
                .unwrap_or_default()
                .contains(&b'\n'))
}

#[cfg(test)]
#[path = "tunnel_tests.rs"]
mod tests;
