//! Helpers shared by the end-to-end tests: real servers on free loopback ports (redis-server,
//! the harness and its echo upstream), stopped when the test ends.

pub mod alice;
pub mod bodies;
pub mod cluster;
pub mod envoy;
pub mod gateway;
pub mod harness;
pub mod http;
pub mod keep_alive;
pub mod kong;
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
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
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
