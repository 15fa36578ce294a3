//! RESP tunnels served natively: the body of a dispatch to a tunnel upstream is a RESP pipeline
//! for the Redis node named in `:authority`. It goes over a pooled TCP connection (TLS when the
//! call asks, `tls`); the final QUIT is answered here (`+OK`) without closing the pooled
//! connection. It runs inside Envoy too (the dynamic module), so nothing here may panic.

use crate::tls::{Tls, TlsWanted};
use redis_filter_core::resp::split_frames;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelError {
    /// The node refused or could not be reached.
    Connect(String),
    /// No complete answer within the timeout.
    Timeout,
    /// The node closed the connection or sent something that is not RESP.
    Broken(String),
    /// The body is not a RESP pipeline.
    BadRequest(String),
    /// TLS was asked and could not be had (handshake refused, certificate or name not
    /// verified, no CA bundle): never a plaintext fallback.
    Tls(String),
}

/// A connection to a node, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Idle connections per node (and TLS mode), for one worker.
pub struct TunnelPool {
    idle: RefCell<HashMap<String, Vec<Conn>>>,
    tls: Arc<Tls>,
}

const MAX_IDLE_PER_NODE: usize = 64;

fn is_quit(frame: &[u8]) -> bool {
    frame.eq_ignore_ascii_case(b"*1\r\n$4\r\nQUIT\r\n")
}

impl TunnelPool {
    pub fn new(tls: Arc<Tls>) -> Self {
        Self {
            idle: RefCell::default(),
            tls,
        }
    }

    pub async fn call(
        &self,
        node: &str,
        body: &[u8],
        timeout: Duration,
        tls: Option<&TlsWanted>,
    ) -> Result<Vec<u8>, TunnelError> {
        let (frames, rest) =
            split_frames(body).map_err(|e| TunnelError::BadRequest(e.to_string()))?;
        if !rest.is_empty() {
            return Err(TunnelError::BadRequest(
                "incomplete RESP command at the end of the body".into(),
            ));
        }
        let quit = frames.last().is_some_and(|f| is_quit(f));
        let commands = frames.len() - usize::from(quit);
        let payload_len: usize = frames.iter().take(commands).map(|f| f.len()).sum();
        let payload = body.get(..payload_len).unwrap_or(body);
        // Plaintext connections are pooled by node (no allocation on the common path), TLS
        // ones by node and what was asked.
        let key: Cow<'_, str> = match tls {
            None => Cow::Borrowed(node),
            Some(t) => Cow::Owned(format!("{node} tls {} {:?}", t.verify, t.server_name)),
        };
        let work = async {
            let mut conn = match self.take_idle(&key) {
                Some(c) => c,
                None => self.connect(node, tls).await?,
            };
            let mut replies = match &mut conn {
                Conn::Plain(c) => exchange(c, payload, commands).await?,
                Conn::Tls(c) => exchange(c.as_mut(), payload, commands).await?,
            };
            self.put_idle(&key, conn);
            if quit {
                replies.extend_from_slice(b"+OK\r\n");
            }
            Ok(replies)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(TunnelError::Timeout),
        }
    }

    async fn connect(&self, node: &str, tls: Option<&TlsWanted>) -> Result<Conn, TunnelError> {
        let tcp = TcpStream::connect(node)
            .await
            .map_err(|e| TunnelError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let Some(wanted) = tls else {
            return Ok(Conn::Plain(tcp));
        };
        let host = node.rsplit_once(':').map_or(node, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let stream = self.tls.connect(tcp, host, wanted).await;
        Ok(Conn::Tls(Box::new(stream.map_err(TunnelError::Tls)?)))
    }

    fn take_idle(&self, node: &str) -> Option<Conn> {
        self.idle.borrow_mut().get_mut(node).and_then(Vec::pop)
    }

    fn put_idle(&self, node: &str, conn: Conn) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(node.to_string()).or_default();
        if list.len() < MAX_IDLE_PER_NODE {
            list.push(conn);
        }
    }
}

/// Writes the pipeline and reads exactly `n` replies.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut S,
    payload: &[u8],
    n: usize,
) -> Result<Vec<u8>, TunnelError> {
    conn.write_all(payload)
        .await
        .map_err(|e| TunnelError::Broken(e.to_string()))?;
    conn.flush()
        .await
        .map_err(|e| TunnelError::Broken(e.to_string()))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let (frames, _) = split_frames(&buf).map_err(|e| TunnelError::Broken(e.to_string()))?;
        if frames.len() >= n {
            if frames.len() > n {
                return Err(TunnelError::Broken("more replies than commands".into()));
            }
            return Ok(buf);
        }
        let read = conn
            .read(&mut chunk)
            .await
            .map_err(|e| TunnelError::Broken(e.to_string()))?;
        if read == 0 {
            return Err(TunnelError::Broken(format!(
                "connection closed after {} of {n} replies",
                frames.len()
            )));
        }
        buf.extend_from_slice(chunk.get(..read).unwrap_or(&chunk));
    }
}
