//! A Sentinel-monitored master/replica pair: a redis-server master, one replica (`replicaof`) and
//! three `redis-sentinel`s, all on free loopback ports, all stopped (by pid) when dropped.
//!
//! ```ignore
//! let group = SentinelGroup::start(SentinelOptions::default());
//! group.master().cmd(&["SET", "k", "v"]);
//! group.kill_master();
//! let took = group.wait_failover(Duration::from_secs(15)); // master() is now the replica
//! group.wait_sentinels_agree(Duration::from_secs(10));
//! assert_eq!(group.current_master_port(), group.master().port);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::redis_server::{info_value, request, Resp};
use crate::RedisServer;

#[derive(Clone, Debug)]
pub struct SentinelOptions {
    /// `sentinel monitor <master_name> ...`
    pub master_name: String,
    /// Sentinels that must agree the master is down (of 3).
    pub quorum: u32,
    /// `sentinel down-after-milliseconds`.
    pub down_after_ms: u64,
    /// `sentinel failover-timeout` (a failed election is retried after twice this).
    pub failover_timeout_ms: u64,
    /// `requirepass` + `masterauth` of the data nodes (`sentinel auth-pass` for the monitor).
    pub password: Option<String>,
    /// `requirepass` of the sentinels (they also use it to talk to each other).
    pub sentinel_password: Option<String>,
    /// How long `start` waits for the sentinels to know each other and the replica.
    pub startup_timeout: Duration,
    /// A TLS port beside every plaintext one, replication and the sentinels' links over TLS:
    /// the sentinels monitor (and report) the data nodes' TLS ports.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Default for SentinelOptions {
    fn default() -> Self {
        Self {
            master_name: "mymaster".into(),
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 2000,
            password: None,
            sentinel_password: None,
            startup_timeout: Duration::from_secs(20),
            tls: None,
        }
    }
}

pub struct SentinelGroup {
    opts: SentinelOptions,
    // Declared (so dropped) first: no failover while the data nodes stop.
    sentinels: Vec<RedisServer>,
    /// `[initial master, initial replica]`.
    nodes: [RedisServer; 2],
    /// The data nodes' ports as the sentinels know them (their TLS ports, with `tls`).
    announced: [u16; 2],
    /// The sentinels' TLS ports, with `tls`.
    sentinel_tls_ports: Vec<u16>,
    /// Index in `nodes` of the current master (changed by `wait_failover`).
    master_idx: AtomicUsize,
    killed_at: Mutex<Option<Instant>>,
}

impl SentinelGroup {
    /// Starts the master, the replica and three sentinels, and waits until every sentinel reports
    /// the master, knows the replica and the 2 other sentinels (and the replica is in sync).
    pub fn start(opts: SentinelOptions) -> Self {
        let mut data: Vec<String> = vec!["repl-diskless-sync-delay 0".into()];
        if let Some(pw) = &opts.password {
            data.push(format!("requirepass \"{pw}\""));
            data.push(format!("masterauth \"{pw}\""));
        }
        let with_pw = |server: RedisServer, pw: &Option<String>| match pw {
            Some(pw) => server.with_password(pw),
            None => server,
        };
        // With TLS: a TLS port per process, replication (and sentinel links) over TLS.
        let tls_lines = |extra: &[String]| -> (Vec<String>, Option<u16>) {
            let mut lines: Vec<String> = extra.to_vec();
            let Some(tls) = &opts.tls else {
                return (lines, None);
            };
            let port = crate::free_port();
            lines.extend(tls.redis_lines(port));
            lines.push("tls-replication yes".into());
            (lines, Some(port))
        };
        let (master_lines, master_tls) = tls_lines(&data);
        let lines: Vec<&str> = master_lines.iter().map(String::as_str).collect();
        let master = with_pw(RedisServer::start(&lines), &opts.password);
        let master_at = master_tls.unwrap_or(master.port);
        let (mut replica_lines, replica_tls) = tls_lines(&data);
        replica_lines.push(format!("replicaof 127.0.0.1 {master_at}"));
        let lines: Vec<&str> = replica_lines.iter().map(String::as_str).collect();
        let replica = with_pw(RedisServer::start(&lines), &opts.password);
        let announced = [master_at, replica_tls.unwrap_or(replica.port)];

        let name = &opts.master_name;
        let mut conf = vec![
            format!(
                "sentinel monitor {name} 127.0.0.1 {} {}",
                master_at, opts.quorum
            ),
            format!(
                "sentinel down-after-milliseconds {name} {}",
                opts.down_after_ms
            ),
            format!(
                "sentinel failover-timeout {name} {}",
                opts.failover_timeout_ms
            ),
            format!("sentinel parallel-syncs {name} 1"),
        ];
        if let Some(pw) = &opts.password {
            conf.push(format!("sentinel auth-pass {name} \"{pw}\""));
        }
        if let Some(pw) = &opts.sentinel_password {
            conf.push(format!("requirepass \"{pw}\""));
        }
        let mut sentinel_tls_ports = Vec::new();
        let sentinels = (0..3)
            .map(|_| {
                let (lines, tls_port) = tls_lines(&conf);
                sentinel_tls_ports.extend(tls_port);
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                with_pw(RedisServer::start_sentinel(&lines), &opts.sentinel_password)
            })
            .collect();

        let group = Self {
            opts,
            sentinels,
            nodes: [master, replica],
            announced,
            sentinel_tls_ports,
            master_idx: AtomicUsize::new(0),
            killed_at: Mutex::new(None),
        };
        let deadline = Instant::now() + group.opts.startup_timeout;
        loop {
            let Err(why) = group.check_ready() else {
                return group;
            };
            if Instant::now() > deadline {
                panic!(
                    "sentinel group not ready after {:?}: {why}",
                    group.opts.startup_timeout
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_ready(&self) -> Result<(), String> {
        let (master, replica) = (self.master(), self.replica());
        let link = replica.info_field("replication", "master_link_status");
        if link.as_deref() != Some("up") {
            return Err(format!(
                "replica {} master_link_status {link:?}",
                replica.port
            ));
        }
        for s in &self.sentinels {
            let at = s.port;
            let reported = self.sentinel_master_port(at);
            if reported != Some(self.announced_port(master.port)) {
                return Err(format!("sentinel {at} reports master {reported:?}"));
            }
            let replicas = self.sentinel_query(at, "replicas")?;
            let known = replicas.items().iter().any(|r| {
                r.field("port") == Some(self.announced_port(replica.port).to_string())
                    && r.field("flags")
                        .is_some_and(|f| !f.contains("down") && !f.contains("disc"))
            });
            if !known {
                return Err(format!(
                    "sentinel {at} does not know the replica: {replicas}"
                ));
            }
            let peers = self.sentinel_query(at, "sentinels")?;
            let up = peers.items().iter().filter(|p| {
                p.field("flags")
                    .is_some_and(|f| !f.contains("down") && !f.contains("disc"))
            });
            if up.count() != 2 {
                return Err(format!("sentinel {at} knows sentinels {peers}"));
            }
        }
        Ok(())
    }

    /// `SENTINEL <what> <master name>` on the sentinel at `port`.
    fn sentinel_query(&self, port: u16, what: &str) -> Result<Resp, String> {
        let pw = self.opts.sentinel_password.as_deref();
        match request(port, pw, &["SENTINEL", what, &self.opts.master_name]) {
            Ok(Resp::Error(e)) => Err(format!("sentinel {port}: SENTINEL {what}: -{e}")),
            Ok(reply) => Ok(reply),
            Err(e) => Err(format!("sentinel {port}: {e}")),
        }
    }

    pub fn options(&self) -> &SentinelOptions {
        &self.opts
    }

    pub fn master_name(&self) -> &str {
        &self.opts.master_name
    }

    /// The port the sentinels know a data node by (its TLS port with `tls`).
    pub fn announced_port(&self, port: u16) -> u16 {
        match self.nodes.iter().position(|n| n.port == port) {
            Some(i) => self.announced[i],
            None => port,
        }
    }

    /// The sentinels' TLS ports (with `tls`).
    pub fn sentinel_tls_ports(&self) -> &[u16] {
        &self.sentinel_tls_ports
    }

    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The sentinel processes (`request`/`cmd` authenticate with `sentinel_password`).
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The current master as this fixture knows it: the initial master, or the replica once
    /// `wait_failover` saw it promoted. (`cmd` authenticates with `password`.)
    pub fn master(&self) -> &RedisServer {
        &self.nodes[self.master_idx.load(Ordering::SeqCst)]
    }

    /// The other data node (after a failover: the killed former master).
    pub fn replica(&self) -> &RedisServer {
        &self.nodes[1 - self.master_idx.load(Ordering::SeqCst)]
    }

    /// Both data nodes, `[initial master, initial replica]`.
    pub fn data_nodes(&self) -> &[RedisServer; 2] {
        &self.nodes
    }

    /// What the sentinel at `sentinel_port` answers to `get-master-addr-by-name` (its port).
    pub fn sentinel_master_port(&self, sentinel_port: u16) -> Option<u16> {
        let reply = self
            .sentinel_query(sentinel_port, "get-master-addr-by-name")
            .ok()?;
        reply.items().get(1)?.text()?.parse().ok()
    }

    /// The master port reported by the first sentinel that answers (right after a failover it
    /// may still be the old one: see `wait_sentinels_agree`).
    pub fn current_master_port(&self) -> u16 {
        self.sentinels
            .iter()
            .find_map(|s| self.sentinel_master_port(s.port))
            .expect("no sentinel answers get-master-addr-by-name")
    }

    /// SIGKILL of the current master (by pid); returns its port. `wait_failover` measures from
    /// here.
    pub fn kill_master(&self) -> u16 {
        let master = self.master();
        master.kill();
        *self.killed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        master.port
    }

    /// `SENTINEL FAILOVER <name>` on the first sentinel (a failover without a dead master). The
    /// old master keeps `role:master` (and accepts writes) until the sentinels reconfigure it as
    /// a replica, which took them about 10 s here (Redis 7.0: 4 hello periods after it reported
    /// `role:master`); the same holds for a killed master that is `restart`ed.
    pub fn trigger_failover(&self) {
        let port = self.sentinels[0].port;
        let reply = self.sentinel_query(port, "failover");
        assert!(
            reply.as_ref().is_ok_and(Resp::is_ok),
            "SENTINEL FAILOVER: {reply:?}"
        );
        *self.killed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Polls the sentinels until one reports the other data node (the replica) as master and
    /// that node says `role:master`; from then on it is `master()`. Returns the time since
    /// `kill_master`/`trigger_failover` (or since this call if neither was called). Panics with
    /// what the sentinels say after `timeout`.
    pub fn wait_failover(&self, timeout: Duration) -> Duration {
        let called = Instant::now();
        let since = self
            .killed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or(called);
        let candidate_idx = 1 - self.master_idx.load(Ordering::SeqCst);
        let candidate = &self.nodes[candidate_idx];
        loop {
            let reported = self
                .sentinels
                .iter()
                .any(|s| self.sentinel_master_port(s.port) == Some(candidate.port));
            if reported && self.role(candidate).as_deref() == Some("master") {
                self.master_idx.store(candidate_idx, Ordering::SeqCst);
                return since.elapsed();
            }
            if called.elapsed() > timeout {
                let views: Vec<String> = self
                    .sentinels
                    .iter()
                    .map(|s| format!("{}: {:?}", s.port, self.sentinel_master_port(s.port)))
                    .collect();
                panic!(
                    "no failover to {} within {timeout:?}: sentinels report {views:?}, its role \
                     is {:?}; first sentinel's log:\n{}",
                    candidate.port,
                    self.role(candidate),
                    self.sentinels[0].log_tail(15)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every sentinel reports the same master as `master()` (sentinels other than the
    /// failover leader learn the new master from hello messages, a second or two later).
    pub fn wait_sentinels_agree(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let want = self.master().port;
        loop {
            let views: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|s| self.sentinel_master_port(s.port))
                .collect();
            if views.iter().all(|v| *v == Some(want)) {
                return;
            }
            if Instant::now() > deadline {
                panic!("sentinels report {views:?}, not {want}, after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `role` of `INFO replication` of a data node (`None` if it does not answer).
    fn role(&self, node: &RedisServer) -> Option<String> {
        match node.request(&["INFO", "replication"]).ok()? {
            Resp::Bulk(b) => info_value(&String::from_utf8_lossy(&b), "role"),
            _ => None,
        }
    }
}
