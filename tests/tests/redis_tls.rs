//! Redis over TLS: redis-server with a TLS port and a CA made at test time, reached by rate
//! limiting on the harness (both profiles), Envoy and Kong's engine: `ssl`, `ssl_verify` with
//! the right CA and name, and what must be refused with no plaintext fallback: a wrong CA, a
//! wrong `server_name`, `ssl` against the plaintext port. AUTH with an ACL user over TLS;
//! Sentinel and Cluster over TLS.

use e2e_tests::envoy::EnvoyGateway;
use e2e_tests::gateway::rate_limited_yaml;
use e2e_tests::harness::{dist_dir, Setup};
use e2e_tests::http::get;
use e2e_tests::kong::{self, KongGateway};
use e2e_tests::tls::TestCa;
use e2e_tests::{free_port, RedisServer};
use wasm_test_harness::Profile;

fn yaml(redis: serde_json::Value) -> String {
    let config = serde_json::json!({"minute": 1000, "policy": "redis", "limit_by": "ip",
        "fault_tolerant": false, "redis": redis});
    rate_limited_yaml(&config.to_string())
}

/// Where the filter runs: the harness (a profile) or Kong's engine with the project's bridge.
#[derive(Debug, Clone, Copy)]
enum On {
    Harness(Profile),
    Envoy,
    Kong,
}

/// The statuses of two requests through a gateway with this `redis` block, its tunnel checking
/// certificates against `ca`.
fn statuses(on: On, ca: &std::path::Path, redis: serde_json::Value) -> Vec<u16> {
    let two = |addr| (0..2).map(|_| get(addr, "/", &[]).status).collect();
    match on {
        On::Harness(profile) => {
            let gw = Setup::new(&yaml(redis))
                .profile(profile)
                .filters(dist_dir())
                .redis_ca(ca.to_path_buf())
                .start();
            two(gw.addr)
        }
        On::Envoy => {
            let gw = EnvoyGateway::start_full(&yaml(redis), &dist_dir(), 2, &[], Some(ca), |_| {});
            two(gw.addr)
        }
        On::Kong => {
            let gw = KongGateway::start_full(&yaml(redis), &dist_dir(), 2, &[], Some(ca));
            let got = two(gw.addr);
            assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
            got
        }
    }
}

#[test]
fn rate_limiting_reaches_a_tls_redis_and_refuses_what_it_cannot_verify() {
    let ca = TestCa::new("redis");
    let other = TestCa::new("other");
    let tls_port = free_port();
    let lines = ca.redis_lines(tls_port);
    let mut conf: Vec<&str> = lines.iter().map(String::as_str).collect();
    conf.push("user alice on >alice-pw ~* +@all");
    let redis = RedisServer::start(&conf);
    let tls = |extra: serde_json::Value| {
        let mut block = serde_json::json!({"host": "127.0.0.1", "port": tls_port, "ssl": true});
        for (k, v) in extra.as_object().unwrap() {
            block[k] = v.clone();
        }
        block
    };
    let mut hosts = vec![
        On::Harness(Profile::Kong),
        On::Harness(Profile::Envoy),
        On::Envoy,
    ];
    if kong::available("rate_limiting_reaches_a_tls_redis_and_refuses_what_it_cannot_verify") {
        hosts.push(On::Kong);
    }
    for profile in hosts {
        redis.cmd(&["FLUSHALL"]);
        // Encrypted, nothing checked (Kong's ssl_verify false).
        assert_eq!(
            statuses(profile, &ca.ca, tls(serde_json::json!({}))),
            [200, 200],
            "{profile:?}"
        );
        // Verified against the right CA, by name and by address.
        let name = serde_json::json!({"ssl_verify": true, "server_name": "redis.test"});
        assert_eq!(
            statuses(profile, &ca.ca, tls(name)),
            [200, 200],
            "{profile:?}"
        );
        let by_ip = serde_json::json!({"ssl_verify": true});
        assert_eq!(
            statuses(profile, &ca.ca, tls(by_ip)),
            [200, 200],
            "{profile:?}"
        );
        // An ACL user over TLS.
        let acl = serde_json::json!({"ssl_verify": true, "server_name": "redis.test",
            "username": "alice", "password": "alice-pw"});
        assert_eq!(
            statuses(profile, &ca.ca, tls(acl)),
            [200, 200],
            "{profile:?}"
        );
        let counted = redis.cmd(&["DBSIZE"]);
        assert_ne!(counted, b":0\r\n", "{profile:?}: nothing was counted");
        // Refused, never sent in plaintext: another CA, another name, the plaintext port.
        let verify = serde_json::json!({"ssl_verify": true, "server_name": "redis.test"});
        assert_eq!(
            statuses(profile, &other.ca, tls(verify)),
            [500, 500],
            "{profile:?}: wrong CA"
        );
        let wrong_name = serde_json::json!({"ssl_verify": true, "server_name": "other.test"});
        assert_eq!(
            statuses(profile, &ca.ca, tls(wrong_name)),
            [500, 500],
            "{profile:?}: wrong name"
        );
        let plain = serde_json::json!({"host": "127.0.0.1", "port": redis.port, "ssl": true});
        assert_eq!(
            statuses(profile, &ca.ca, plain),
            [500, 500],
            "{profile:?}: plaintext port"
        );
    }
}

/// A Redis Cluster whose nodes speak TLS (bus and replication too): a TLS client is told the
/// TLS ports by `CLUSTER SLOTS`, so every call after the seed goes over verified TLS as well.
#[test]
fn a_cluster_over_tls_counts_each_key_on_its_slots_master() {
    use e2e_tests::cluster::{ClusterOptions, RedisCluster};
    let ca = TestCa::new("cluster");
    let cluster = RedisCluster::start_with(ClusterOptions {
        masters: 3,
        tls: Some(ca.files()),
        ..ClusterOptions::default()
    });
    let config = serde_json::json!({"minute": 1000, "policy": "redis", "limit_by": "header",
        "header_name": "x-user", "fault_tolerant": false,
        "redis": {"cluster_nodes": [{"ip": "127.0.0.1", "port": cluster.tls_seed()}],
            "ssl": true, "ssl_verify": true, "server_name": "redis.test"}});
    let yaml = rate_limited_yaml(&config.to_string());
    let mut hosts = vec![On::Harness(Profile::Kong), On::Envoy];
    if kong::available("a_cluster_over_tls_counts_each_key_on_its_slots_master") {
        hosts.push(On::Kong);
    }
    for on in hosts {
        let users: Vec<String> = (0..8).map(|i| format!("{on:?}-user-{i}")).collect();
        let check = |addr| {
            for user in &users {
                let r = get(addr, "/", &[("x-user", user)]);
                assert_eq!(r.status, 200, "{on:?} {user}: {}", r.text());
            }
        };
        match on {
            On::Harness(profile) => {
                let gw = Setup::new(&yaml)
                    .profile(profile)
                    .filters(dist_dir())
                    .redis_ca(ca.ca.clone())
                    .start();
                check(gw.addr);
            }
            On::Envoy => {
                let gw = EnvoyGateway::start_full(&yaml, &dist_dir(), 1, &[], Some(&ca.ca), |_| {});
                check(gw.addr);
            }
            On::Kong => {
                let gw = KongGateway::start_full(&yaml, &dist_dir(), 1, &[], Some(&ca.ca));
                check(gw.addr);
                assert!(gw.crashes().is_empty(), "{:?}", gw.crashes());
            }
        }
        // Every master holds the counters of its own slots, and the users spread over them.
        let mut masters_used = std::collections::BTreeSet::new();
        for port in cluster.masters() {
            if let e2e_tests::redis_server::Resp::Array(keys) =
                cluster.cmd_on(port, &["KEYS", "ratelimit:*"])
            {
                for key in keys.iter().filter_map(e2e_tests::redis_server::Resp::text) {
                    assert_eq!(
                        cluster.master_for_slot(cluster.key_slot(&key)),
                        port,
                        "{on:?}: {key}"
                    );
                    if users.iter().any(|u| key.contains(u.as_str())) {
                        masters_used.insert(port);
                    }
                }
            }
        }
        assert!(masters_used.len() >= 2, "{on:?}: {masters_used:?}");
    }
}

/// Sentinel over TLS: the sentinels are asked over TLS, and the master they name (its TLS port)
/// is reached over verified TLS.
#[test]
fn sentinel_over_tls_names_the_master_that_counts() {
    use e2e_tests::sentinel::{SentinelGroup, SentinelOptions};
    let ca = TestCa::new("sentinel");
    let group = SentinelGroup::start(SentinelOptions {
        tls: Some(ca.files()),
        ..SentinelOptions::default()
    });
    let nodes: Vec<serde_json::Value> = group
        .sentinel_tls_ports()
        .iter()
        .map(|p| serde_json::json!({"host": "127.0.0.1", "port": p}))
        .collect();
    let redis = serde_json::json!({"sentinel_master": group.master_name(), "sentinel_role": "master",
        "sentinel_nodes": nodes, "ssl": true, "ssl_verify": true, "server_name": "redis.test"});
    let mut hosts = vec![On::Harness(Profile::Kong), On::Envoy];
    if kong::available("sentinel_over_tls_names_the_master_that_counts") {
        hosts.push(On::Kong);
    }
    for on in hosts {
        group.master().cmd(&["FLUSHALL"]);
        assert_eq!(statuses(on, &ca.ca, redis.clone()), [200, 200], "{on:?}");
        let counted = group.master().cmd(&["DBSIZE"]);
        assert_ne!(counted, b":0\r\n", "{on:?}: the master counted nothing");
    }
}
