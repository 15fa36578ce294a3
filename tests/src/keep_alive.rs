//! One HTTP/1.1 connection kept open for many requests, for load that must go fast and fresh
//! (a different path or header each time): each request gets its status, the body read and
//! dropped. `http::request` opens a connection per request, which caps a loop at a few thousand
//! requests a second.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// A GET of `path` with `headers`; its status. A connection the server closed is opened
    /// again once.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<u16, String> {
        match self.exchange(path, headers) {
            Ok(status) => Ok(status),
            Err(_) => {
                *self = Self::connect(self.addr)?;
                self.exchange(path, headers)
            }
        }
    }

    fn exchange(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<u16, String> {
        let mut req = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(format!("bad status line {status_line:?}"))?;
        let (mut length, mut chunked, mut close) = (0usize, false, false);
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => length = v.parse().map_err(|_| "bad content-length")?,
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v == "close",
                _ => {}
            }
        }
        if chunked {
            loop {
                let size = usize::from_str_radix(self.line()?.split(';').next().unwrap_or(""), 16)
                    .map_err(|_| "bad chunk size")?;
                self.skip(size + 2)?;
                if size == 0 {
                    break;
                }
            }
        } else {
            self.skip(length)?;
        }
        if close {
            *self = Self::connect(self.addr)?;
        }
        Ok(status)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("connection closed".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        let mut rest = vec![0; n];
        self.reader.read_exact(&mut rest).map_err(|e| e.to_string())
    }
}
