//! redis-rate-limiting on a real Redis Cluster, on the harness, Envoy and Kong's engine: Kong's
//! keys, each on the master of its slot, found from one seed node; a slot holding a live counter
//! migrated under load fails no request and loses no count.

use e2e_tests::cluster::{ClusterOptions, RedisCluster};
use e2e_tests::gateway::{all_hosts, rate_limited_yaml, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::get;
use e2e_tests::load::{summarize, wait_for_mark, Load};
use e2e_tests::redis_server::Resp;
use e2e_tests::{eventually, eventually_ok, Setup};
use serde_json::json;
use std::time::{Duration, Instant};

fn cluster_config(cluster: &RedisCluster, limits: serde_json::Value) -> String {
    let mut config = limits;
    config["policy"] = json!("redis");
    config["redis"] = json!({
        "cluster_nodes": [{"ip": "127.0.0.1", "port": cluster.seed()}],
        "cluster_max_redirections": 5,
    });
    if let Some(pw) = &cluster.options().password {
        config["redis"]["password"] = json!(pw);
    }
    config.to_string()
}

/// Every rate-limiting key of the cluster, with the port of the master holding it.
fn counter_keys(cluster: &RedisCluster) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for port in cluster.masters() {
        if let Resp::Array(keys) = cluster.cmd_on(port, &["KEYS", "ratelimit:*"]) {
            out.extend(keys.iter().filter_map(Resp::text).map(|k| (k, port)));
        }
    }
    out
}

/// How long a phase under load may take to show what it exists for.
const PHASE: Duration = Duration::from_secs(15);

fn counter(cluster: &RedisCluster, key: &str) -> i64 {
    let port = cluster.master_for_slot(cluster.key_slot(key));
    cluster
        .cmd_on(port, &["GET", key])
        .text()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_period_is_counted_on_its_slots_master_with_kong_keys() {
    for host in all_hosts("every_period_is_counted_on_its_slots_master_with_kong_keys") {
        let cluster = RedisCluster::start(3, 0);
        let config = cluster_config(&cluster, json!({"hour": 3, "day": 100}));
        let gw = Gateway::start(host, &rate_limited_yaml(&config), &dist_dir());
        let r = gw.expect_limit("hour", 3);
        // The rejected request is counted (as Kong's redis policy does) but not shown as used.
        assert_eq!(r.header("x-ratelimit-remaining-day"), Some("97"));
        let keys = counter_keys(&cluster);
        assert_eq!(keys.len(), 2, "{host:?}: {keys:?}");
        for (key, port) in &keys {
            // ratelimit:<route id>:<service id>:<identifier>:<window start ms>:<period>
            let parts: Vec<&str> = key.split(':').collect();
            assert_eq!(parts.len(), 6, "Kong's key format: {key}");
            assert_eq!((parts[0], parts[3]), ("ratelimit", "127.0.0.1"), "{key}");
            assert!(["hour", "day"].contains(&parts[5]), "{key}");
            assert_eq!(
                *port,
                cluster.master_for_slot(cluster.key_slot(key)),
                "{key} is on its slot's master"
            );
            assert_eq!(counter(&cluster, key), 4, "{host:?}: {key}");
        }
    }
}

#[test]
fn migrating_a_live_counter_slot_under_load_fails_nothing_and_loses_no_count() {
    for host in
        all_hosts("migrating_a_live_counter_slot_under_load_fails_nothing_and_loses_no_count")
    {
        let cluster = RedisCluster::start(3, 0);
        let config = cluster_config(
            &cluster,
            json!({"year": 1_000_000_000, "fault_tolerant": false}),
        );
        let gw = Gateway::start(host, &rate_limited_yaml(&config), &dist_dir());
        let r = get(gw.addr(), "/", &[]);
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        let (key, from) = counter_keys(&cluster).pop().expect("the year counter");
        let slot = cluster.key_slot(&key);
        let to = *cluster
            .masters()
            .iter()
            .find(|p| **p != from)
            .expect("another master");

        let load = Load::start(gw.addr(), 4, "x-ratelimit-remaining-year");
        load.run_for(100, PHASE);
        let started = Instant::now();
        let asking = cluster.server(to).calls("asking");
        cluster.begin_migration(slot, to);
        load.run_for(50, PHASE);
        let moved = cluster.migrate_some_keys(100);
        // The key now lives on the target while the slot is still the source's: the source
        // answers -ASK, and the gateway follows it with ASKING on the target.
        eventually("an -ASK followed to the target", PHASE, || {
            cluster.server(to).calls("asking") > asking
        });
        load.run_for(100, PHASE);
        cluster.finish_migration();
        // The slot is the target's: the source answers -MOVED, and the gateway learns the new
        // map, after which requests reach the target directly, with no ASKING before them.
        eventually("requests on the target with no -ASK", PHASE, || {
            let asking = cluster.server(to).calls("asking");
            load.run_for(50, PHASE);
            cluster.server(to).calls("asking") == asking
        });
        let samples = load.stop();
        let s = summarize(&samples, started);
        let count = cluster
            .cmd_on(to, &["GET", &key])
            .text()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        eprintln!(
            "{host:?}: slot {slot} ({moved} key) moved {from} -> {to} under load: {} requests, \
             {} failed, {} without headers; counter {count} (expected {})",
            s.total,
            s.failed,
            s.unmarked,
            s.total + 1
        );
        assert_eq!(s.failed, 0, "{host:?}: no failed request");
        assert!(
            samples.iter().all(|x| x.status == 200 && x.marked),
            "{host:?}: every request counted"
        );
        assert_eq!(count, s.total + 1, "{host:?}: no count lost or doubled");
    }
}

#[test]
fn killing_a_master_under_load_gives_no_5xx_and_counting_resumes_on_its_replica() {
    for host in
        all_hosts("killing_a_master_under_load_gives_no_5xx_and_counting_resumes_on_its_replica")
    {
        let cluster = RedisCluster::start(3, 1);
        let config = cluster_config(
            &cluster,
            json!({"year": 1_000_000_000, "fault_tolerant": true}),
        );
        let gw = Gateway::start(host, &rate_limited_yaml(&config), &dist_dir());
        let r = get(gw.addr(), "/", &[]);
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        let (key, master) = counter_keys(&cluster).pop().expect("the year counter");

        let load = Load::start(gw.addr(), 4, "x-ratelimit-remaining-year");
        load.run_for(100, PHASE);
        let killed = Instant::now();
        cluster.kill_node(master);
        assert!(
            wait_for_mark(
                gw.addr(),
                "x-ratelimit-remaining-year",
                Duration::from_secs(20),
            ),
            "{host:?}: counted again after the kill"
        );
        // The failover happened: the slot's new master holds the counter, and it keeps growing
        // under the load.
        let promoted = cluster.master_for_slot(cluster.key_slot(&key));
        assert_ne!(promoted, master, "{host:?}: a replica took the slot over");
        let on_promoted = || {
            cluster
                .cmd_on(promoted, &["GET", &key])
                .text()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let count = on_promoted();
        load.run_for(100, PHASE);
        eventually("the counter growing on the promoted master", PHASE, || {
            on_promoted() > count
        });
        let samples = load.stop();
        let s = summarize(&samples, killed);
        eprintln!(
            "{host:?}: master {master} killed, {promoted} serves the slot now: {} requests, \
             {} failed, {} not counted; counted again {:?} after the kill",
            s.total, s.failed, s.unmarked, s.recovered_after
        );
        assert_eq!(s.failed, 0, "{host:?}: no 5xx with fault_tolerant");
        assert!(
            samples.iter().rev().take(20).all(|x| x.marked),
            "{host:?}: counting resumed"
        );
    }
}

#[test]
fn sync_rate_flushes_every_key_to_its_master_on_a_cluster_with_a_password() {
    let cluster = RedisCluster::start_with(ClusterOptions {
        password: Some("cluster-secret".into()),
        ..ClusterOptions::default()
    });
    let config = cluster_config(
        &cluster,
        json!({"minute": 1000, "hour": 1000, "day": 1000, "sync_rate": 0.1}),
    );
    let gw = Setup::new(&rate_limited_yaml(&config))
        .filters(dist_dir())
        .workers(2)
        .start();
    for _ in 0..25 {
        assert_eq!(get(gw.addr, "/", &[]).status, 200);
    }
    // Flushes run every 100 ms; give them a few.
    eventually_ok(
        "every period's counter flushed to 25 on its master",
        Duration::from_secs(5),
        || {
            let keys = counter_keys(&cluster);
            // Per period (a window may have turned over during the burst: its counts add up).
            let total = |period: &str| -> i64 {
                keys.iter()
                    .filter(|(k, _)| k.ends_with(period))
                    .map(|(k, _)| counter(&cluster, k))
                    .sum()
            };
            let counts = [total(":minute"), total(":hour"), total(":day")];
            if counts == [25, 25, 25] {
                Ok(keys)
            } else {
                Err(format!("{keys:?} {counts:?}"))
            }
        },
    );
    for (key, port) in counter_keys(&cluster) {
        let master = cluster.master_for_slot(cluster.key_slot(&key));
        assert_eq!(port, master, "{key}");
    }
}
