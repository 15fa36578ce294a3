//! `limit_by: ip` counts the client the gateway sees, never an address a client can forge: a made
//! up X-Forwarded-For changes nothing on the harness, Envoy and Kong's engine. Only proxies the
//! operator trusts may name the client (Envoy: `render-envoy --xff-trusted-hops`; Kong: its
//! `trusted_ips`, applied by Kong's nginx before the filter reads `source.address`).

use e2e_tests::envoy::EnvoyGateway;
use e2e_tests::gateway::{all_hosts, rate_limited_yaml, Gateway};
use e2e_tests::harness::dist_dir;
use e2e_tests::http::get;
use e2e_tests::RedisServer;

fn config(redis: &RedisServer) -> String {
    format!(
        r#"{{"minute": 3, "limit_by": "ip", "policy": "redis", "redis_port": {}}}"#,
        redis.port
    )
}

fn keys(redis: &RedisServer) -> Vec<String> {
    String::from_utf8_lossy(&redis.cmd(&["KEYS", "ratelimit:*"]))
        .lines()
        .filter(|l| l.starts_with("ratelimit:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_forged_x_forwarded_for_does_not_bypass_the_ip_limit() {
    for host in all_hosts("a_forged_x_forwarded_for_does_not_bypass_the_ip_limit") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &rate_limited_yaml(&config(&redis)), &dist_dir());
        let statuses: Vec<u16> = (1..=6)
            .map(|i| {
                let forged = format!("203.0.113.{i}");
                get(gw.addr(), "/", &[("X-Forwarded-For", forged.as_str())]).status
            })
            .collect();
        assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "{host:?}");
        let keys = keys(&redis);
        assert_eq!(keys.len(), 1, "{host:?}: one client, one counter: {keys:?}");
        assert!(keys[0].contains(":127.0.0.1:"), "{host:?}: {keys:?}");
    }
}

#[test]
fn envoy_counts_the_forwarded_address_only_behind_a_trusted_proxy_hop() {
    let redis = RedisServer::start(&[]);
    let gw = EnvoyGateway::start_with(
        &rate_limited_yaml(&config(&redis)),
        &dist_dir(),
        2,
        &[],
        |rendered| {
            let hcm = &mut rendered["static_resources"]["listeners"][0]["filter_chains"][0]
                ["filters"][0]["typed_config"];
            assert_eq!(
                hcm["use_remote_address"], true,
                "rendered with the peer as client"
            );
            hcm["xff_num_trusted_hops"] = 1.into();
        },
    );
    // One trusted proxy in front appends the client it saw: that client counts.
    for i in 1..=3 {
        let client = format!("198.51.100.{i}");
        let r = get(gw.addr, "/", &[("X-Forwarded-For", client.as_str())]);
        assert_eq!(r.status, 200, "{}", gw.log());
    }
    let statuses: Vec<u16> = (0..4)
        .map(|_| get(gw.addr, "/", &[("X-Forwarded-For", "198.51.100.9")]).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    let keys = keys(&redis);
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.contains(":198.51.100.9:")),
        "{keys:?}"
    );
}
