//! redis-rate-limiting through Redis Sentinel, on the harness, Envoy and Kong's engine: Kong's
//! sentinel fields find the master; killing the master under load gives no 5xx with
//! `fault_tolerant`, and counting resumes on the promoted replica (the time it takes is printed
//! for the docs).

use e2e_tests::eventually;
use e2e_tests::gateway::{all_hosts, rate_limited_yaml, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::get;
use e2e_tests::load::{summarize, wait_for_mark, Load};
use e2e_tests::redis_server::Resp;
use e2e_tests::sentinel::{SentinelGroup, SentinelOptions};
use serde_json::json;
use std::time::{Duration, Instant};

fn sentinel_config(group: &SentinelGroup, limits: serde_json::Value) -> String {
    let nodes: Vec<_> = group
        .sentinel_ports()
        .iter()
        .map(|p| json!({"host": "127.0.0.1", "port": p}))
        .collect();
    let mut redis = json!({
        "sentinel_master": group.master_name(),
        "sentinel_role": "master",
        "sentinel_nodes": nodes,
    });
    if let Some(pw) = &group.options().password {
        redis["password"] = json!(pw);
    }
    if let Some(pw) = &group.options().sentinel_password {
        redis["sentinel_password"] = json!(pw);
    }
    let mut config = limits;
    config["policy"] = json!("redis");
    config["redis"] = redis;
    config.to_string()
}

/// How long a phase under load may take to show what it exists for.
const PHASE: Duration = Duration::from_secs(15);

/// The sum of the minute counters on the current master.
fn minute_count(group: &SentinelGroup) -> i64 {
    let ask = |args: &[&str]| group.master().request(args).unwrap_or(Resp::Nil);
    ask(&["KEYS", "ratelimit:*:minute"])
        .items()
        .iter()
        .filter_map(Resp::text)
        .filter_map(|k| ask(&["GET", &k]).text())
        .filter_map(|v| v.parse::<i64>().ok())
        .sum()
}

fn counter_keys(group: &SentinelGroup) -> String {
    String::from_utf8_lossy(&group.master().cmd(&["KEYS", "ratelimit:*"])).into_owned()
}

#[test]
fn the_master_named_by_sentinel_counts_with_passwords_everywhere() {
    for host in all_hosts("the_master_named_by_sentinel_counts_with_passwords_everywhere") {
        let group = SentinelGroup::start(SentinelOptions {
            password: Some("data-secret".into()),
            sentinel_password: Some("sentinel-secret".into()),
            ..SentinelOptions::default()
        });
        let config = sentinel_config(&group, json!({"hour": 3}));
        let gw = Gateway::start(host, &rate_limited_yaml(&config), &dist_dir());
        gw.expect_limit("hour", 3);
        assert!(counter_keys(&group).contains(":hour"), "{host:?}");
        assert!(
            !String::from_utf8_lossy(&group.replica().cmd(&["ROLE"])).contains("master"),
            "the replica stayed a replica"
        );
    }
}

#[test]
fn killing_the_master_under_load_gives_no_5xx_and_counting_resumes_on_the_new_one() {
    for host in
        all_hosts("killing_the_master_under_load_gives_no_5xx_and_counting_resumes_on_the_new_one")
    {
        let group = SentinelGroup::start(SentinelOptions::default());
        let config = sentinel_config(
            &group,
            json!({"minute": 10_000_000, "fault_tolerant": true}),
        );
        let gw = Gateway::start(host, &rate_limited_yaml(&config), &dist_dir());
        let r = get(gw.addr(), "/", &[]);
        assert!(
            r.header("x-ratelimit-remaining-minute").is_some(),
            "{host:?}: {}",
            gw.log()
        );

        let load = Load::start(gw.addr(), 4, "x-ratelimit-remaining-minute");
        load.run_for(100, PHASE);
        let killed = Instant::now();
        let old = group.kill_master();
        let promoted = group.wait_failover(Duration::from_secs(20));
        // Keep the load on until requests are counted again.
        assert!(
            wait_for_mark(
                gw.addr(),
                "x-ratelimit-remaining-minute",
                Duration::from_secs(15),
            ),
            "{host:?}: counted again after the failover"
        );
        // The gateway followed the failover: the promoted master's count grows under the load.
        let count = minute_count(&group);
        load.run_for(100, PHASE);
        eventually("the count growing on the promoted master", PHASE, || {
            minute_count(&group) > count
        });
        let samples = load.stop();
        let s = summarize(&samples, killed);
        eprintln!(
            "{host:?}: master {old} killed; sentinel promoted {} after {promoted:?}; \
             {} requests, {} failed, {} not counted; counted again {:?} after the kill",
            group.master().port,
            s.total,
            s.failed,
            s.unmarked,
            s.recovered_after
        );
        assert_eq!(s.failed, 0, "{host:?}: no 5xx with fault_tolerant");
        assert!(
            samples.iter().rev().take(20).all(|x| x.marked),
            "{host:?}: counting resumed"
        );
        assert!(
            counter_keys(&group).contains(":minute"),
            "{host:?}: on the new master"
        );
    }
}
