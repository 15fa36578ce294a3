//! Helpers shared by the end-to-end tests: real servers on free loopback ports (redis-server,
//! the harness and its echo upstream), stopped when the test ends.

pub mod alice;
pub mod bodies;
pub mod clock;
pub mod cluster;
pub mod envoy;
pub mod gateway;
pub mod harness;
pub mod http;
pub mod keep_alive;
pub mod kong;
pub mod kong_yml;
pub mod load;
pub mod procfs;
pub mod real_kong;
pub mod redis_server;
pub mod sentinel;
pub mod tls;
pub mod wrk;

pub use harness::{Setup, TestGateway};
pub use redis_server::{RedisServer, RedisVersion};

/// Waits until `condition` holds, asking every 20 ms; fails the test naming `what` once `timeout`
/// has passed without it. Tests wait for what they assert rather than sleep before it.
pub fn eventually(what: &str, timeout: std::time::Duration, mut condition: impl FnMut() -> bool) {
    eventually_ok(what, timeout, || {
        condition().then_some(()).ok_or_else(String::new)
    });
}

/// `eventually` for an attempt that says why it failed: returns the first success; once
/// `timeout` has passed, fails the test with `what` and the last attempt's reason.
pub fn eventually_ok<T>(
    what: &str,
    timeout: std::time::Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match attempt() {
            Ok(done) => return done,
            Err(why) => assert!(
                std::time::Instant::now() < deadline,
                "{what}: not within {timeout:?} {why}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// demo/kong.yml as scripts/demo.sh fills it in, on `redis`, the upstream left to the gateway
/// that starts (`{echo}`).
pub fn demo_kong_yml(redis: &RedisServer) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/kong.yml");
    std::fs::read_to_string(path)
        .expect("demo/kong.yml")
        .replace("127.0.0.1:${ECHO_PORT}", "{echo}")
        .replace("${REDIS_PORT}", &redis.port.to_string())
}

/// Says that a test ran without a host or server this machine lacks: on stderr, and as a line
/// (`where`, `why` and `test`, tab-separated) of the skip list that the test command counts at its
/// end (`$E2E_SKIPS`, else `target/e2e-skips.txt`).
pub fn skipped(place: &str, test: &str, why: &str) {
    eprintln!("SKIPPED {place} ({test}): {why}");
    let list = std::env::var_os("E2E_SKIPS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-skips.txt")
        });
    let line = format!("{place}\t{why}\t{test}\n");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&list)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = appended {
        eprintln!("(could not add it to {}: {e})", list.display());
    }
}

/// The last `n` lines of a log, for an assertion's message.
pub fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A loopback port nobody listens on right now, and never handed out before by this process.
///
/// The kernel may give the same port to two binds to port 0 in a row once the first socket is
/// closed; a server given a TLS port and a plain port that are one and the same then fails to
/// start ("Address already in use"). Remembering every port handed out rules that out.
pub fn free_port() -> u16 {
    for _ in 0..10_000 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if reserve_port(port) {
            return port;
        }
    }
    panic!("no loopback port left that this process has not handed out already");
}

/// Marks `port` as handed out (a port a server derives from another, as a cluster node's bus
/// port), so `free_port` never returns it; false if it was handed out already.
pub fn reserve_port(port: u16) -> bool {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    handed_out.insert(port)
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_port_never_hands_out_a_port_twice() {
        let mut ports: Vec<u16> = (0..2_000).map(|_| super::free_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 2_000);
    }
}
