//! A real redis-server on a free loopback port, stopped (by its pid) when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` with extra redis.conf lines (`"requirepass pw"`).
    pub fn start(extra: &[&str]) -> Self {
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\n",
            dir.display()
        );
        for line in extra {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = dir.join("redis.conf");
        std::fs::write(&conf_path, conf).expect("write redis.conf");
        let child = Command::new("redis-server")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh)");
        let server = Self { port, child, dir };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends raw bytes on a fresh connection and reads until Redis closes it (end with QUIT).
    pub fn exchange(&self, body: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(body).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }
}

impl RedisServer {
    /// Runs one command and returns its raw RESP reply (QUIT's `+OK` stripped).
    pub fn cmd(&self, args: &[&str]) -> Vec<u8> {
        let mut body = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            body.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        body.extend_from_slice(b"*1\r\n$4\r\nQUIT\r\n");
        let mut out = self.exchange(&body);
        if out.ends_with(b"+OK\r\n") {
            out.truncate(out.len() - 5);
        }
        out
    }

    /// A field of `INFO` (`connected_clients`, `cmdstat_incr`, ...), as text.
    pub fn info_field(&self, section: &str, field: &str) -> Option<String> {
        let raw = String::from_utf8_lossy(&self.cmd(&["INFO", section])).into_owned();
        raw.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    /// `calls=` of a command in `INFO commandstats` (0 if never called).
    pub fn calls(&self, command: &str) -> u64 {
        self.info_field("commandstats", &format!("cmdstat_{command}"))
            .and_then(|v| {
                v.split(',')
                    .find_map(|p| p.strip_prefix("calls="))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
