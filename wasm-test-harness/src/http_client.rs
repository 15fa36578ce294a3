//! A small HTTP/1.1 client with keep-alive (hyper's pooled client), for proxying to upstreams
//! and for filters' dispatches.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub struct SendError {
    pub is_connect: bool,
    pub message: String,
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { client }
    }
}

impl HttpClient {
    pub async fn send(
        &self,
        authority: &str,
        method: &str,
        path: &str,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let err = |is_connect: bool, message: String| SendError {
            is_connect,
            message,
        };
        let uri = format!("http://{authority}{path}");
        let mut builder = hyper::Request::builder().method(method).uri(&uri);
        let close = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case(b"close"));
        for (k, v) in headers {
            if is_hop_by_hop(&k) || k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            builder = builder.header(k, v);
        }
        if close {
            builder = builder.header("connection", "close");
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| err(false, e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| err(e.is_connect(), e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(k, _)| !is_hop_by_hop(k.as_str()))
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(false, e.to_string()))?
            .to_bytes()
            .to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
