//! redis-proxy-cache through Redis Sentinel and on a Redis Cluster, on every host: the entry is
//! written to the master Sentinel names, or to the master of its slot (the entry, its lock and
//! its wait list share one slot), and served from there to another gateway.

use e2e_tests::cluster::RedisCluster;
use e2e_tests::eventually_ok;
use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::{get, Response};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::redis_server::Resp;
use e2e_tests::sentinel::{SentinelGroup, SentinelOptions};
use serde_json::json;
use std::time::Duration;

fn yaml(config: &serde_json::Value) -> String {
    let route = Route::at("/").name("cached");
    let route = route.filter("redis-proxy-cache", &config.to_string());
    KongYml::new().route(route).to_string()
}

fn status(r: &Response) -> Option<&str> {
    r.header("x-cache-status")
}

/// A Miss on one gateway, then (once the write has landed) a Hit with the same body on another.
fn miss_then_hit_across_gateways(a: &Gateway, b: &Gateway, path: &str) {
    let host = a.host();
    let first = get(a.addr(), path, &[("x-nonce", "first")]);
    assert_eq!(first.status, 200, "{host:?}: {}", first.text());
    assert_eq!(status(&first), Some("Miss"), "{host:?}: {}", a.log());
    let hit = eventually_ok(&format!("{host:?}: a hit"), Duration::from_secs(5), || {
        let r = get(b.addr(), path, &[("x-nonce", "second")]);
        match status(&r) {
            Some("Hit") => Ok(r),
            _ => Err(format!("{:?}", r.headers)),
        }
    });
    assert_eq!(
        hit.body, first.body,
        "{host:?}: the stored body, byte for byte"
    );
}

#[test]
fn sentinel_finds_the_master_that_holds_the_entries() {
    for host in all_hosts("sentinel_finds_the_master_that_holds_the_entries") {
        let group = SentinelGroup::start(SentinelOptions {
            password: Some("data-secret".into()),
            ..SentinelOptions::default()
        });
        let nodes: Vec<_> = group
            .sentinel_ports()
            .iter()
            .map(|p| json!({"host": "127.0.0.1", "port": p}))
            .collect();
        let config = json!({
            "strategy": "redis",
            "content_type": ["application/json"],
            "redis": {
                "sentinel_master": group.master_name(),
                "sentinel_role": "master",
                "sentinel_nodes": nodes,
                "password": "data-secret",
            },
        });
        let a = Gateway::start(host, &yaml(&config), &dist_dir());
        let b = Gateway::start(host, &yaml(&config), &dist_dir());
        miss_then_hit_across_gateways(&a, &b, "/products?page=1");
        let keys =
            String::from_utf8_lossy(&group.master().cmd(&["KEYS", "proxy-cache:*"])).into_owned();
        assert!(keys.contains("proxy-cache:"), "{host:?}: {keys}");
    }
}

#[test]
fn on_a_cluster_each_entry_lives_on_its_slots_master() {
    for host in all_hosts("on_a_cluster_each_entry_lives_on_its_slots_master") {
        let cluster = RedisCluster::start(3, 0);
        let config = json!({
            "strategy": "redis",
            "content_type": ["application/json"],
            "redis": {"cluster_nodes": [{"ip": "127.0.0.1", "port": cluster.seed()}]},
        });
        let a = Gateway::start(host, &yaml(&config), &dist_dir());
        let b = Gateway::start(host, &yaml(&config), &dist_dir());
        for page in 1..=4 {
            miss_then_hit_across_gateways(&a, &b, &format!("/products?page={page}"));
        }
        let mut found = 0;
        for port in cluster.masters() {
            if let Resp::Array(keys) = cluster.cmd_on(port, &["KEYS", "proxy-cache:*"]) {
                for key in keys.iter().filter_map(Resp::text) {
                    let slot = cluster.key_slot(&key);
                    assert_eq!(port, cluster.master_for_slot(slot), "{host:?}: {key}");
                    found += 1;
                }
            }
        }
        assert!(found >= 4, "{host:?}: {found} entries");
    }
}
