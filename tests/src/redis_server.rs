//! A real redis-server (or redis-sentinel) on a loopback port, stopped (by its pid) when dropped,
//! and a small RESP client to talk to it (and to any other node by port). Besides the current
//! Redis (`redis-server` on the PATH), Redis 5.0, the oldest the integration guide allows
//! (`RedisVersion::V5`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a started process gets to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect, read and write timeout of the RESP client.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisServer {
    pub port: u16,
    child: Mutex<Child>,
    dir: PathBuf,
    program: &'static str,
    /// The executable started (`program` on the PATH, or a path for another version).
    binary: PathBuf,
    conf_path: PathBuf,
    /// Sent with `AUTH` by `cmd`, `request`, ... (set with `with_password`).
    password: Option<String>,
}

/// Starts a server on a port picked as free, and on another one (up to three tries) when some
/// other process took that port before the server could bind it; panics with the last error.
fn on_a_free_port(start: impl Fn(u16) -> Result<RedisServer, String>) -> RedisServer {
    let mut last = String::new();
    for _ in 0..3 {
        match start(crate::free_port()) {
            Ok(server) => return server,
            Err(e) if e.contains("Address already in use") || e.contains("is taken by") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{last}")
}

impl RedisServer {
    /// Starts `redis-server` on a free port with extra redis.conf lines (`"requirepass pw"`).
    pub fn start(extra: &[&str]) -> Self {
        on_a_free_port(|port| Self::try_start_on(port, extra))
    }

    /// Starts `redis-server` on `port`; panics (with its log) if it does not come up.
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        Self::try_start_on(port, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `start_on`, but an error instead of a panic (to retry on another port when a port
    /// picked as free was taken in the meantime).
    pub fn try_start_on(port: u16, extra: &[&str]) -> Result<Self, String> {
        Self::spawn("redis-server", Path::new("redis-server"), port, extra)
    }

    /// Starts Redis 5.0 (`redis5_binary`) on a free port; panics when it is absent (ask
    /// `RedisVersion::all` first, which says SKIPPED).
    pub fn start_v5(extra: &[&str]) -> Self {
        let binary = redis5_binary().expect("Redis 5.0 (check RedisVersion::all first)");
        on_a_free_port(|port| Self::spawn("redis-server", &binary, port, extra))
    }

    /// Empties every database (between the cases of a test that shares one server).
    pub fn flush_all(&self) {
        assert!(
            self.request(&["FLUSHALL"]).is_ok_and(|r| r.is_ok()),
            "FLUSHALL"
        );
    }

    /// `redis_version` of `INFO server` (`5.0.14`).
    pub fn version(&self) -> String {
        self.info_field("server", "redis_version")
            .unwrap_or_default()
    }

    /// Starts `redis-sentinel` on a free port with its config lines (`"sentinel monitor ..."`).
    pub fn start_sentinel(conf: &[&str]) -> Self {
        on_a_free_port(|port| Self::try_start_sentinel_on(port, conf))
    }

    pub fn try_start_sentinel_on(port: u16, conf: &[&str]) -> Result<Self, String> {
        Self::spawn("redis-sentinel", Path::new("redis-sentinel"), port, conf)
    }

    /// `cmd`, `info_field`, `calls`, `request` and `pipeline` authenticate with `password`.
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    fn spawn(
        program: &'static str,
        binary: &Path,
        port: u16,
        extra: &[&str],
    ) -> Result<Self, String> {
        let tag = program.trim_start_matches("redis-");
        let dir =
            std::env::temp_dir().join(format!("redis-{tag}-test-{}-{port}", std::process::id()));
        // A stale dir (nodes.conf of an earlier cluster node on this port) must not be reused.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir {}: {e}", dir.display()))?;
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n",
            dir.display(),
            dir.join("redis.log").display()
        );
        if program == "redis-server" {
            conf.push_str("save \"\"\nappendonly no\n");
        }
        for line in extra {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = dir.join(format!("{tag}.conf"));
        std::fs::write(&conf_path, conf).map_err(|e| format!("write {tag}.conf: {e}"))?;
        let child = spawn_process(binary, &conf_path)?;
        let server = Self {
            port,
            child: Mutex::new(child),
            dir,
            program,
            binary: binary.to_path_buf(),
            conf_path,
            password: None,
        };
        // For the readiness check only: `cmd` and friends authenticate only after `with_password`.
        let requirepass = extra.iter().rev().find_map(|l| {
            l.trim()
                .strip_prefix("requirepass ")
                .map(|p| p.trim().trim_matches('"').to_string())
        });
        server.wait_ready(requirepass.as_deref())?;
        Ok(server)
    }

    /// Waits until this very process (not another one that took the port) answers.
    fn wait_ready(&self, password: Option<&str>) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let pid = self.pid();
        loop {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Err(format!(
                    "{} on port {} exited ({status}) before accepting connections; log:\n{}",
                    self.program,
                    self.port,
                    self.log_tail(20)
                ));
            }
            match request(self.port, password, &["INFO", "server"]) {
                Ok(Resp::Bulk(info)) => {
                    let info = String::from_utf8_lossy(&info).into_owned();
                    match info_value(&info, "process_id").and_then(|p| p.parse::<u32>().ok()) {
                        Some(p) if p == pid => return Ok(()),
                        Some(other) => {
                            return Err(format!(
                                "port {} is taken by another process (pid {other}, ours {pid})",
                                self.port
                            ))
                        }
                        None => {}
                    }
                }
                // NOAUTH/WRONGPASS (a password we could not guess), LOADING: it listens.
                Ok(Resp::Error(e)) if !e.starts_with("LOADING") => {
                    if let Ok(None) = self.child().try_wait() {
                        return Ok(());
                    }
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} on port {} did not accept connections within {READY_TIMEOUT:?}; log:\n{}",
                    self.program,
                    self.port,
                    self.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The process id of the running (or last started) process.
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// The temp dir holding its config, log and data files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        matches!(self.child().try_wait(), Ok(None))
    }

    /// SIGKILL of the process (by its pid), and reaps it. Idempotent.
    pub fn kill(&self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the process again on the same port, config and data dir (killing it first if it
    /// still runs): a cluster node comes back with its nodes.conf, a data node with its config.
    pub fn restart(&self) {
        self.kill();
        let child = spawn_process(&self.binary, &self.conf_path).unwrap_or_else(|e| panic!("{e}"));
        *self.child() = child;
        let requirepass = self.password.clone();
        self.wait_ready(requirepass.as_deref())
            .unwrap_or_else(|e| panic!("restart: {e}"));
    }

    /// The last `lines` lines of its log file.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
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

    /// One command, its parsed reply (server errors are `Ok(Resp::Error)`; `Err` is I/O).
    pub fn request(&self, args: &[&str]) -> io::Result<Resp> {
        request(self.port, self.password.as_deref(), args)
    }

    /// Several commands on one connection (`ASKING` + `GET`, `READONLY` + `GET`, ...).
    pub fn pipeline(&self, cmds: &[Vec<&str>]) -> io::Result<Vec<Resp>> {
        pipeline(self.port, self.password.as_deref(), cmds)
    }
}

impl RedisServer {
    /// Runs one command and returns its raw RESP reply (QUIT's `+OK` stripped).
    pub fn cmd(&self, args: &[&str]) -> Vec<u8> {
        if let Some(password) = &self.password {
            let mut s = connect(self.port).expect("connect");
            return raw_exchange(&mut s, Some(password), &[to_bytes(args)])
                .and_then(|mut frames| frames.pop().ok_or_else(|| eof("no reply")))
                .expect("command");
        }
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
        info_value(&raw, field)
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
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_process(program: &Path, conf_path: &Path) -> Result<Child, String> {
    Command::new(program)
        .arg(conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            let program = program.display();
            format!("{program} must be installed (scripts/setup.sh): {e}")
        })
}

/// Redis 5.0's `redis-server`, if there is one: `REDIS_5_SERVER`, else
/// `../shared/hosts/redis-server-5.0.14` beside the repository (where CI machines have it).
pub fn redis5_binary() -> Option<PathBuf> {
    let path = std::env::var_os("REDIS_5_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/hosts/redis-server-5.0.14")
        });
    path.exists().then_some(path)
}

/// Which Redis a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisVersion {
    /// `redis-server` on the PATH (Debian's 7.x).
    Current,
    /// 5.0, the oldest Redis the integration guide allows.
    V5,
}

impl RedisVersion {
    /// Every Redis to run `test` against: the current one, and 5.0 where it is found (else it
    /// says SKIPPED, once per call, as Kong's engine does when absent).
    pub fn all(test: &str) -> Vec<RedisVersion> {
        if redis5_binary().is_some() {
            return vec![RedisVersion::Current, RedisVersion::V5];
        }
        let why = "no redis-server 5.0 (set REDIS_5_SERVER, or put it at ../shared/hosts/redis-server-5.0.14)";
        crate::skipped("on Redis 5.0", test, why);
        vec![RedisVersion::Current]
    }

    /// Each of `cases` (the hosts of a test) against each Redis of `all`: the current Redis
    /// for every case first, then 5.0.
    pub fn pairs<T: Copy>(cases: impl IntoIterator<Item = T>, test: &str) -> Vec<(T, Self)> {
        let cases: Vec<T> = cases.into_iter().collect();
        Self::all(test)
            .into_iter()
            .flat_map(|version| cases.iter().map(move |case| (*case, version)))
            .collect()
    }

    /// Whether Redis 5.0 is here; says SKIPPED (once per call) when not.
    pub fn v5_available(test: &str) -> bool {
        Self::all(test).contains(&RedisVersion::V5)
    }

    /// Starts this Redis on a free port with extra redis.conf lines.
    pub fn start(self, extra: &[&str]) -> RedisServer {
        match self {
            RedisVersion::Current => RedisServer::start(extra),
            RedisVersion::V5 => RedisServer::start_v5(extra),
        }
    }
}

/// `field:value` of an `INFO` text.
pub fn info_value(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(':'))
        })
        .map(|v| v.trim().to_string())
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// Null bulk string or null array.
    Nil,
    Array(Vec<Resp>),
}

impl Resp {
    /// Status, bulk (lossy UTF-8) or integer as text; `None` for errors, nil and arrays.
    pub fn text(&self) -> Option<String> {
        match self {
            Resp::Status(s) => Some(s.clone()),
            Resp::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Resp::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The items of an array (empty for anything else).
    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(items) => items,
            _ => &[],
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Resp::Int(n) => Some(*n),
            Resp::Bulk(_) | Resp::Status(_) => self.text()?.parse().ok(),
            _ => None,
        }
    }

    /// The message of an error reply (`MOVED 866 127.0.0.1:7001`).
    pub fn error(&self) -> Option<&str> {
        match self {
            Resp::Error(e) => Some(e),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Resp::Status(s) if s == "OK")
    }

    /// A flat `[k1, v1, k2, v2, ...]` array (SENTINEL replicas entries) as pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.items()
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((k.text()?, v.text()?)),
                _ => None,
            })
            .collect()
    }

    /// The value of `key` in a flat key-value array.
    pub fn field(&self, key: &str) -> Option<String> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resp::Status(s) => write!(f, "+{s}"),
            Resp::Error(e) => write!(f, "-{e}"),
            Resp::Int(n) => write!(f, ":{n}"),
            Resp::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Resp::Nil => write!(f, "(nil)"),
            Resp::Array(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A RESP2 array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one complete reply at the start of `buf`: the reply and its length, `None` if `buf`
/// holds only part of it, `Err` if it is not RESP2.
pub fn parse(buf: &[u8]) -> Result<Option<(Resp, usize)>, String> {
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..line_end].split_first() else {
        return Err("empty line".into());
    };
    let line = String::from_utf8_lossy(line).into_owned();
    let after = line_end + 2;
    let number = |line: &str| line.parse::<i64>().map_err(|e| format!("{line:?}: {e}"));
    match kind {
        b'+' => Ok(Some((Resp::Status(line), after))),
        b'-' => Ok(Some((Resp::Error(line), after))),
        b':' => Ok(Some((Resp::Int(number(&line)?), after))),
        b'$' => {
            let Ok(n) = usize::try_from(number(&line)?) else {
                return Ok(Some((Resp::Nil, after)));
            };
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Resp::Bulk(buf[after..after + n].to_vec()),
                after + n + 2,
            )))
        }
        b'*' => {
            let Ok(n) = usize::try_from(number(&line)?) else {
                return Ok(Some((Resp::Nil, after)));
            };
            let mut items = Vec::with_capacity(n.min(1024));
            let mut pos = after;
            for _ in 0..n {
                let Some((item, used)) = parse(&buf[pos..])? else {
                    return Ok(None);
                };
                items.push(item);
                pos += used;
            }
            Ok(Some((Resp::Array(items), pos)))
        }
        other => Err(format!("not RESP2: type byte {:?}", other as char)),
    }
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_string())
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn to_bytes(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Sends `AUTH password` (if any) and the commands, pipelined; returns the raw reply frames of
/// the commands (AUTH's reply dropped if `+OK`, kept in front if it is an error).
fn raw_exchange(
    s: &mut TcpStream,
    password: Option<&str>,
    cmds: &[Vec<Vec<u8>>],
) -> io::Result<Vec<Vec<u8>>> {
    let mut body = Vec::new();
    if let Some(pw) = password {
        body.extend_from_slice(&encode(&["AUTH", pw]));
    }
    for c in cmds {
        body.extend_from_slice(&encode(c));
    }
    s.write_all(&body)?;
    let expected = cmds.len() + usize::from(password.is_some());
    let mut frames = Vec::with_capacity(expected);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while frames.len() < expected {
        match parse(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
            Some((_, used)) => {
                frames.push(buf[..used].to_vec());
                buf.drain(..used);
            }
            None => {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    return Err(eof("connection closed before the reply"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    if password.is_some() && frames.first().is_some_and(|f| f.as_slice() == b"+OK\r\n") {
        frames.remove(0);
    }
    Ok(frames)
}

/// Commands given as bytes, pipelined on one fresh connection (after `AUTH` if `password`), and
/// their parsed replies. A failed AUTH shows as every reply being its error.
pub fn pipeline_bytes(
    port: u16,
    password: Option<&str>,
    cmds: &[Vec<Vec<u8>>],
) -> io::Result<Vec<Resp>> {
    let mut s = connect(port)?;
    let mut frames = raw_exchange(&mut s, password, cmds)?;
    if frames.len() > cmds.len() {
        // AUTH failed: its error stands for every command.
        let auth = frames.remove(0);
        frames = vec![auth; cmds.len()];
    }
    frames
        .iter()
        .map(|f| match parse(f) {
            Ok(Some((resp, _))) => Ok(resp),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame")),
        })
        .collect()
}

/// Several commands on one fresh connection to `127.0.0.1:port` (after `AUTH` if `password`).
pub fn pipeline(port: u16, password: Option<&str>, cmds: &[Vec<&str>]) -> io::Result<Vec<Resp>> {
    let cmds: Vec<Vec<Vec<u8>>> = cmds.iter().map(|c| to_bytes(c)).collect();
    pipeline_bytes(port, password, &cmds)
}

/// One command on a fresh connection to `127.0.0.1:port` (after `AUTH` if `password`).
pub fn request(port: u16, password: Option<&str>, args: &[&str]) -> io::Result<Resp> {
    pipeline(port, password, &[args.to_vec()])?
        .pop()
        .ok_or_else(|| eof("no reply"))
}
