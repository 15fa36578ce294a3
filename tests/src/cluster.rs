//! A Redis Cluster of `cluster-enabled` redis-servers on free loopback ports (whose bus port,
//! port + 10000, was free too), joined with `CLUSTER MEET`, slots assigned evenly with
//! `CLUSTER ADDSLOTSRANGE`, replicas set with `CLUSTER REPLICATE`; all stopped when dropped.
//! Live slot migration, whole (`migrate_slot`) or in steps (`begin_migration`,
//! `migrate_some_keys`, `finish_migration`) to run load while a slot is half-migrated.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::redis_server::{info_value, pipeline, pipeline_bytes, request, Resp};
use crate::RedisServer;

pub const SLOTS: u16 = 16384;

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub masters: usize,
    pub replicas_per_master: usize,
    /// `cluster-node-timeout` (a master is failed over about 2-3 times this after it dies).
    pub node_timeout_ms: u64,
    /// `requirepass` + `masterauth` of every node (`cmd_on` and MIGRATE use it).
    pub password: Option<String>,
    /// How long `start` waits for `cluster_state:ok` and an agreed slot map.
    pub startup_timeout: Duration,
    /// A TLS port beside each node's plaintext one, the bus and replication over TLS
    /// (`tls-cluster`): a TLS client is told the TLS ports, a plaintext one (this helper) the
    /// plaintext ports.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            masters: 3,
            replicas_per_master: 0,
            node_timeout_ms: 1000,
            password: None,
            startup_timeout: Duration::from_secs(20),
            tls: None,
        }
    }
}

/// A slot migration in progress.
#[derive(Clone, Debug)]
pub struct Migration {
    pub slot: u16,
    pub from: u16,
    pub to: u16,
    from_id: String,
    to_id: String,
}

pub struct RedisCluster {
    opts: ClusterOptions,
    /// Masters first (`opts.masters`), then the replicas of master 0, of master 1, ...
    nodes: Vec<RedisServer>,
    /// Each node's TLS port, with `tls`.
    tls_ports: Vec<u16>,
    ids: Vec<String>,
    migration: Mutex<Option<Migration>>,
}

/// One node's line of `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    pub port: u16,
    pub flags: Vec<String>,
    /// The master's id for a replica, `-` for a master.
    pub master: String,
    /// Slot ranges served (inclusive), migration markers (`[slot->-id]`) left out.
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    pub fn is_failed(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?")
    }

    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

/// Parses `CLUSTER NODES`.
pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f.get(1)?.split(['@', ',']).next()?;
            let port = addr.rsplit(':').next()?.parse().unwrap_or(0);
            let slots = f
                .get(8..)
                .unwrap_or_default()
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|n| (n, n)),
                })
                .collect();
            Some(NodeLine {
                id: f.first()?.to_string(),
                port,
                flags: f.get(2)?.split(',').map(str::to_string).collect(),
                master: f.get(3)?.to_string(),
                slots,
            })
        })
        .collect()
}

/// CRC16-XMODEM (poly 0x1021, init 0), as Redis Cluster uses it.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of a key: CRC16 of the key, or of its hash tag (what is between the first `{`
/// and the first `}` after it, if not empty), mod 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % SLOTS
}

/// A free port whose cluster bus port (+10000) is free as well; both are reserved, so no other
/// server of this process is given either.
fn cluster_port() -> u16 {
    loop {
        let port = crate::free_port();
        if port > u16::MAX - 10000 || !crate::reserve_port(port + 10000) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl RedisCluster {
    /// `masters` masters serving the 16384 slots evenly, each with `replicas_per_master`
    /// replicas; returns once every node says `cluster_state:ok` and all agree on the slot map.
    pub fn start(masters: usize, replicas_per_master: usize) -> Self {
        Self::start_with(ClusterOptions {
            masters,
            replicas_per_master,
            ..ClusterOptions::default()
        })
    }

    pub fn start_with(opts: ClusterOptions) -> Self {
        assert!(opts.masters >= 1, "a cluster needs a master");
        let started = Instant::now();
        let mut conf = vec![
            "cluster-enabled yes".to_string(),
            "cluster-config-file nodes.conf".to_string(),
            format!("cluster-node-timeout {}", opts.node_timeout_ms),
            // A replica always fails over, however long its link was down.
            "cluster-replica-validity-factor 0".to_string(),
            "repl-diskless-sync-delay 0".to_string(),
        ];
        if let Some(pw) = &opts.password {
            conf.push(format!("requirepass \"{pw}\""));
            conf.push(format!("masterauth \"{pw}\""));
        }
        let count = opts.masters * (1 + opts.replicas_per_master);
        let mut nodes: Vec<RedisServer> = Vec::with_capacity(count);
        let mut tls_ports = Vec::new();
        for _ in 0..count {
            let mut attempt = 0;
            let node = loop {
                let port = cluster_port();
                let mut lines = conf.clone();
                if let Some(tls) = &opts.tls {
                    let tls_port = cluster_port();
                    lines.extend(tls.redis_lines(tls_port));
                    lines.extend(["tls-cluster yes".into(), "tls-replication yes".into()]);
                    tls_ports.push(tls_port);
                }
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                match RedisServer::try_start_on(port, &lines) {
                    Ok(node) => break node,
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        if opts.tls.is_some() {
                            tls_ports.pop();
                        }
                        eprintln!("cluster node on {port}: {e}; trying another port");
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            nodes.push(match &opts.password {
                Some(pw) => node.with_password(pw),
                None => node,
            });
        }
        let mut cluster = Self {
            opts,
            nodes,
            tls_ports,
            ids: Vec::new(),
            migration: Mutex::new(None),
        };
        cluster.ids = cluster
            .nodes
            .iter()
            .map(|n| cluster.ok_text(n.port, &["CLUSTER", "MYID"]))
            .collect();
        // Distinct epochs up front, as `redis-cli --cluster create` does.
        for (i, n) in cluster.nodes.iter().enumerate() {
            let epoch = (i + 1).to_string();
            cluster.expect_ok(n.port, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]);
        }
        let first = cluster.nodes[0].port;
        for (i, n) in cluster.nodes.iter().enumerate().skip(1) {
            // With tls-cluster the bus is the TLS port's (+10000).
            let port = cluster
                .tls_ports
                .get(i)
                .copied()
                .unwrap_or(n.port)
                .to_string();
            cluster.expect_ok(first, &["CLUSTER", "MEET", "127.0.0.1", &port]);
        }
        let deadline = started + cluster.opts.startup_timeout;
        cluster.wait_until(deadline, "all nodes to know each other", |c| {
            c.alive_ports().into_iter().try_for_each(|p| {
                let known = c.nodes_view(p)?;
                let handshaking = known
                    .iter()
                    .filter(|n| n.flags.iter().any(|f| f == "handshake" || f == "noaddr"));
                match (known.len(), handshaking.count()) {
                    (n, 0) if n == c.nodes.len() => Ok(()),
                    (n, h) => Err(format!("{p} knows {n} nodes, {h} in handshake")),
                }
            })
        });
        let m = cluster.opts.masters;
        for (i, n) in cluster.nodes[..m].iter().enumerate() {
            let (from, to) = (i * 16384 / m, (i + 1) * 16384 / m - 1);
            let (from, to) = (from.to_string(), to.to_string());
            cluster.expect_ok(n.port, &["CLUSTER", "ADDSLOTSRANGE", &from, &to]);
        }
        for (r, n) in cluster.nodes[m..].iter().enumerate() {
            let master_id = &cluster.ids[r / cluster.opts.replicas_per_master];
            cluster.wait_until(deadline, "CLUSTER REPLICATE", |c| {
                match c.cmd_on(n.port, &["CLUSTER", "REPLICATE", master_id]) {
                    reply if reply.is_ok() => Ok(()),
                    reply => Err(format!(
                        "{}: CLUSTER REPLICATE {master_id}: {reply}",
                        n.port
                    )),
                }
            });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        cluster.wait_ready(remaining);
        cluster
    }

    /// Waits until every running node says `cluster_state:ok`, all of them show the same nodes,
    /// roles and slots in `CLUSTER NODES`, and every running replica's link is up (after a start,
    /// a migration, a kill or a failover). Panics with the last difference after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.wait_until(deadline, "cluster_state:ok and one slot map", |c| {
            c.check_ready()
        });
    }

    fn check_ready(&self) -> Result<(), String> {
        let mut maps: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for port in self.alive_ports() {
            let info = self.text_of(port, &["CLUSTER", "INFO"])?;
            let state = info_value(&info, "cluster_state");
            if state.as_deref() != Some("ok") {
                return Err(format!("{port}: cluster_state {state:?}"));
            }
            let view = self.nodes_view(port)?;
            if view.len() != self.nodes.len() {
                return Err(format!("{port} knows {} nodes", view.len()));
            }
            let me = view.iter().find(|n| n.flags.iter().any(|f| f == "myself"));
            if me.is_some_and(|me| !me.is_master()) {
                let info = self.text_of(port, &["INFO", "replication"])?;
                let link = info_value(&info, "master_link_status");
                if link.as_deref() != Some("up") {
                    return Err(format!("replica {port}: master_link_status {link:?}"));
                }
            }
            let mut lines: Vec<String> = view
                .iter()
                .map(|n| {
                    let role = if n.is_master() { "master" } else { "replica" };
                    format!("{} {role} {} {:?}", n.id, n.master, n.slots)
                })
                .collect();
            lines.sort();
            maps.entry(lines.join("\n")).or_default().push(port);
        }
        if maps.len() > 1 {
            let views: Vec<String> = maps
                .iter()
                .map(|(map, ports)| format!("{ports:?}:\n{map}"))
                .collect();
            return Err(format!("nodes disagree:\n{}", views.join("\n")));
        }
        Ok(())
    }

    fn wait_until(
        &self,
        deadline: Instant,
        what: &str,
        mut check: impl FnMut(&Self) -> Result<(), String>,
    ) {
        loop {
            let Err(why) = check(self) else { return };
            if Instant::now() > deadline {
                panic!("cluster: waited in vain for {what}: {why}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// Every node's port (killed ones included), masters first as started.
    pub fn nodes(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The node processes (`request`/`cmd` authenticate with the password).
    pub fn servers(&self) -> &[RedisServer] {
        &self.nodes
    }

    pub fn server(&self, port: u16) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"))
    }

    /// The ports of the nodes still running.
    pub fn alive_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.port)
            .collect()
    }

    /// A running node's port (to give a client as its seed).
    /// The TLS port of the first node (with `ClusterOptions::tls`).
    pub fn tls_seed(&self) -> u16 {
        *self.tls_ports.first().expect("a cluster started with tls")
    }

    pub fn seed(&self) -> u16 {
        *self
            .alive_ports()
            .first()
            .expect("every cluster node is dead")
    }

    /// The node id of the node on `port`.
    pub fn node_id(&self, port: u16) -> &str {
        let i = self.nodes.iter().position(|n| n.port == port);
        &self.ids[i.unwrap_or_else(|| panic!("no cluster node on port {port}"))]
    }

    fn port_of_id(&self, id: &str) -> u16 {
        let i = self.ids.iter().position(|x| x == id);
        self.nodes[i.unwrap_or_else(|| panic!("no cluster node {id}"))].port
    }

    /// `CLUSTER NODES` as seen by the node on `port`.
    pub fn nodes_view(&self, port: u16) -> Result<Vec<NodeLine>, String> {
        Ok(parse_nodes(&self.text_of(port, &["CLUSTER", "NODES"])?))
    }

    /// Ports of the masters that are not failed, as the seed sees them.
    pub fn masters(&self) -> Vec<u16> {
        let view = self
            .nodes_view(self.seed())
            .unwrap_or_else(|e| panic!("{e}"));
        view.iter()
            .filter(|n| n.is_master() && !n.is_failed())
            .map(|n| n.port)
            .collect()
    }

    /// Ports of the replicas of the master on `master_port`, as the seed sees them.
    pub fn replicas_of(&self, master_port: u16) -> Vec<u16> {
        let id = self.node_id(master_port);
        let view = self
            .nodes_view(self.seed())
            .unwrap_or_else(|e| panic!("{e}"));
        view.iter()
            .filter(|n| n.master == id)
            .map(|n| n.port)
            .collect()
    }

    /// The port of the master serving `slot`, as the seed sees it.
    pub fn master_for_slot(&self, slot: u16) -> u16 {
        let view = self
            .nodes_view(self.seed())
            .unwrap_or_else(|e| panic!("{e}"));
        view.iter()
            .find(|n| n.is_master() && n.serves(slot))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// The slot of `key` (CRC16-XMODEM with hash tags; equal to `CLUSTER KEYSLOT`).
    pub fn key_slot(&self, key: &str) -> u16 {
        key_slot(key.as_bytes())
    }

    /// One command to the node on `port` (with the cluster's password); panics on I/O errors.
    pub fn cmd_on(&self, port: u16, args: &[&str]) -> Resp {
        self.try_cmd_on(port, args)
            .unwrap_or_else(|e| panic!("{port}: {args:?}: {e}"))
    }

    pub fn try_cmd_on(&self, port: u16, args: &[&str]) -> io::Result<Resp> {
        request(port, self.opts.password.as_deref(), args)
    }

    /// Several commands on one connection (`ASKING` + `GET`); panics on I/O errors.
    pub fn pipeline_on(&self, port: u16, cmds: &[Vec<&str>]) -> Vec<Resp> {
        pipeline(port, self.opts.password.as_deref(), cmds)
            .unwrap_or_else(|e| panic!("{port}: {cmds:?}: {e}"))
    }

    /// SIGKILL of the node on `port` (by pid).
    pub fn kill_node(&self, port: u16) {
        self.server(port).kill();
    }

    /// Starts a killed node again (same port and nodes.conf: it rejoins).
    pub fn restart_node(&self, port: u16) {
        self.server(port).restart();
    }

    fn text_of(&self, port: u16, args: &[&str]) -> Result<String, String> {
        match self.try_cmd_on(port, args) {
            Ok(Resp::Error(e)) => Err(format!("{port}: {args:?}: -{e}")),
            Ok(reply) => reply
                .text()
                .ok_or_else(|| format!("{port}: {args:?}: {reply}")),
            Err(e) => Err(format!("{port}: {args:?}: {e}")),
        }
    }

    fn ok_text(&self, port: u16, args: &[&str]) -> String {
        self.text_of(port, args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn expect_ok(&self, port: u16, args: &[&str]) {
        let reply = self.cmd_on(port, args);
        assert!(reply.is_ok(), "{port}: {args:?}: {reply}");
    }

    fn lock_migration(&self) -> std::sync::MutexGuard<'_, Option<Migration>> {
        self.migration.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Live migration of `slot` to the master on `to_port`, keys and all; returns once every
    /// running node says `to_port` serves it.
    pub fn migrate_slot(&self, slot: u16, to_port: u16) {
        self.begin_migration(slot, to_port);
        self.finish_migration();
    }

    /// Step 1: `SETSLOT IMPORTING` on the target, `SETSLOT MIGRATING` on the owner. From here
    /// the owner answers `-ASK` for keys of the slot it no longer has.
    pub fn begin_migration(&self, slot: u16, to_port: u16) -> Migration {
        let mut current = self.lock_migration();
        assert!(current.is_none(), "a migration is in progress: {current:?}");
        let from = self.master_for_slot(slot);
        assert_ne!(from, to_port, "slot {slot} is already served by {to_port}");
        let m = Migration {
            slot,
            from,
            to: to_port,
            from_id: self.node_id(from).to_string(),
            to_id: self.node_id(to_port).to_string(),
        };
        let s = slot.to_string();
        self.expect_ok(m.to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &m.from_id]);
        self.expect_ok(m.from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &m.to_id]);
        *current = Some(m.clone());
        m
    }

    /// The migration in progress, if any.
    pub fn migration(&self) -> Option<Migration> {
        self.lock_migration().clone()
    }

    /// Step 2 (repeatable): `MIGRATE`s up to `n` keys of the slot to the target; returns how many
    /// were moved (0 once the owner has none left).
    pub fn migrate_some_keys(&self, n: usize) -> usize {
        let m = self
            .migration()
            .expect("no migration in progress (begin_migration)");
        let (s, count) = (m.slot.to_string(), n.to_string());
        let keys = self.cmd_on(m.from, &["CLUSTER", "GETKEYSINSLOT", &s, &count]);
        let keys: Vec<Vec<u8>> = match keys {
            Resp::Array(items) => items
                .into_iter()
                .map(|k| match k {
                    Resp::Bulk(k) => k,
                    other => panic!("GETKEYSINSLOT gave {other}"),
                })
                .collect(),
            other => panic!("{}: CLUSTER GETKEYSINSLOT {s} {count}: {other}", m.from),
        };
        if keys.is_empty() {
            return 0;
        }
        let mut migrate: Vec<Vec<u8>> =
            ["MIGRATE", "127.0.0.1", &m.to.to_string(), "", "0", "5000"]
                .iter()
                .map(|a| a.as_bytes().to_vec())
                .collect();
        if let Some(pw) = &self.opts.password {
            migrate.extend([b"AUTH".to_vec(), pw.as_bytes().to_vec()]);
        }
        migrate.push(b"KEYS".to_vec());
        migrate.extend(keys.iter().cloned());
        let reply = pipeline_bytes(m.from, self.opts.password.as_deref(), &[migrate])
            .unwrap_or_else(|e| panic!("{}: MIGRATE: {e}", m.from))
            .pop();
        match reply {
            // NOKEY: they expired in between.
            Some(Resp::Status(s)) if s == "OK" || s == "NOKEY" => keys.len(),
            other => panic!(
                "{}: MIGRATE of {} keys to {}: {other:?}",
                m.from,
                keys.len(),
                m.to
            ),
        }
    }

    /// Step 3: moves the remaining keys, then `SETSLOT NODE <target>` on the target, the former
    /// owner and every other master; returns once every running node says the target serves it.
    pub fn finish_migration(&self) {
        let m = self
            .migration()
            .expect("no migration in progress (begin_migration)");
        while self.migrate_some_keys(100) > 0 {}
        let s = m.slot.to_string();
        let setslot = ["CLUSTER", "SETSLOT", &s, "NODE", &m.to_id];
        self.expect_ok(m.to, &setslot);
        self.expect_ok(m.from, &setslot);
        let others = self.nodes_view(m.to).unwrap_or_else(|e| panic!("{e}"));
        for n in others.iter().filter(|n| n.is_master() && !n.is_failed()) {
            let port = self.port_of_id(&n.id);
            if port != m.to && port != m.from && self.server(port).is_running() {
                self.expect_ok(port, &setslot);
            }
        }
        *self.lock_migration() = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        self.wait_until(deadline, "all nodes to agree on the migrated slot", |c| {
            c.alive_ports().into_iter().try_for_each(|p| {
                let owner = c
                    .nodes_view(p)?
                    .into_iter()
                    .find(|n| n.is_master() && n.serves(m.slot));
                match owner {
                    Some(o) if o.id == m.to_id => Ok(()),
                    other => Err(format!("{p} says slot {} is served by {other:?}", m.slot)),
                }
            })
        });
    }
}
