//! An upstream that answers with the request as JSON. Query arguments shape the answer:
//! `status=N`, `delay_ms=N`, `header=Name:Value` (repeatable; a `Content-Type` given replaces the
//! JSON one), `body_size=N` (a body of N bytes instead of the JSON), `body_hex=HEX` (exactly
//! these bytes instead of the JSON).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

pub struct EchoServer {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(())
                {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Bytes from hex digits (`89504e47`); None for anything else.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

async fn answer(req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let pairs = query_pairs(&query);
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(ms) = get("delay_ms").and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = get("status")
        .and_then(|v| v.parse::<u16>().ok())
        .unwrap_or(200);
    let exact = get("body_hex").and_then(|v| from_hex(&v));
    let size = get("body_size").and_then(|v| v.parse::<usize>().ok());
    let payload = match (exact, size) {
        (Some(bytes), _) => bytes,
        (None, Some(n)) => vec![b'x'; n],
        (None, None) => serde_json::json!({
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        })
        .to_string()
        .into_bytes(),
    };
    let mut builder = hyper::Response::builder()
        .status(hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK));
    let typed = pairs.iter().any(|(k, v)| {
        k == "header"
            && v.split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
    });
    if !typed {
        builder = builder.header("content-type", "application/json");
    }
    for (k, v) in &pairs {
        if k == "header" {
            if let Some((name, value)) = v.split_once(':') {
                builder = builder.header(name.trim(), value.trim());
            }
        }
    }
    builder
        .body(Full::new(Bytes::from(payload)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::from_static(b"bad header"))))
}

impl EchoServer {
    pub fn start(listen: &str) -> Result<Self, String> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let _ = stream.set_nodelay(true);
                            tokio::spawn(async move {
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service_fn(|req| async { Ok::<_, std::convert::Infallible>(answer(req).await) }))
                                    .await;
                            });
                        }
                        _ = stop_rx.changed() => break,
                    }
                }
            });
        });
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_percent_and_plus() {
        let p = query_pairs("header=Cache-Control%3A+max-age%3D60&status=201&flag");
        assert_eq!(p[0], ("header".into(), "Cache-Control: max-age=60".into()));
        assert_eq!(p[1], ("status".into(), "201".into()));
        assert_eq!(p[2], ("flag".into(), String::new()));
    }

    #[test]
    fn hex_bodies_decode_or_are_refused() {
        assert_eq!(from_hex("89504e470a00"), Some(b"\x89PNG\n\0".to_vec()));
        assert_eq!(from_hex("8"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
