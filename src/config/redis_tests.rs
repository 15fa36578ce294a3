use super::*;
use serde_json::json;

fn plugin(v: Value) -> Result<RedisConfig, ConfigError> {
    let mut top = Fields::new("", &v)?;
    let config = RedisConfig::from_plugin_config(&mut top)?;
    top.finish()?;
    Ok(config)
}

#[test]
fn defaults_match_kong() {
    let c = plugin(json!({})).unwrap();
    assert_eq!(
        c.mode,
        RedisMode::Standalone(NodeAddr::new("127.0.0.1", 6379))
    );
    assert_eq!(c.call_timeout_ms(), 2000);
    assert_eq!(c.database, 0);
    assert_eq!(c.tunnel, "redis_tunnel");
    assert_eq!(c.keepalive_pool_size, 256);
    assert!(!c.ssl && !c.ssl_verify);
}

#[test]
fn flat_aliases_of_the_integration_guide_fill_the_block() {
    let c = plugin(json!({
        "redis_host": "10.0.0.5", "redis_port": 6380, "redis_password": "pw",
        "redis_database": 2, "redis_timeout": 1500, "redis_username": "u", "redis_ssl": false
    }))
    .unwrap();
    assert_eq!(
        c.mode,
        RedisMode::Standalone(NodeAddr::new("10.0.0.5", 6380))
    );
    assert_eq!(c.password.as_deref(), Some("pw"));
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.database, 2);
    assert_eq!((c.connect_timeout_ms, c.read_timeout_ms), (1500, 1500));
}

#[test]
fn same_value_in_alias_and_block_is_fine_but_a_conflict_is_refused() {
    assert!(plugin(json!({"redis_port": 6380, "redis": {"port": 6380}})).is_ok());
    let e = plugin(json!({"redis_port": 6380, "redis": {"port": 6381}})).unwrap_err();
    assert_eq!(e.field, "redis_port");
    assert!(e.message.contains("redis.port"), "{e}");
}

#[test]
fn wrong_type_names_the_field() {
    let e = plugin(json!({"redis": {"port": "6379"}})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid config: redis.port: expected an integer"
    );
    let e = plugin(json!({"redis_database": "zero"})).unwrap_err();
    assert_eq!(e.field, "redis_database");
}

#[test]
fn out_of_range_port_is_refused() {
    let e = plugin(json!({"redis": {"port": 65536}})).unwrap_err();
    assert_eq!(e.field, "redis.port");
    assert_eq!(e.message, "value should be between 0 and 65535");
}

#[test]
fn unknown_field_in_block_is_reported() {
    let e = plugin(json!({"redis": {"hostname": "x"}})).unwrap_err();
    assert_eq!(e.field, "redis.hostname");
    assert_eq!(e.message, "unknown field");
}

#[test]
fn ee_timeouts_and_timeout_shorthand() {
    let c = plugin(json!({"redis": {"timeout": 500, "read_timeout": 900}})).unwrap();
    assert_eq!(c.connect_timeout_ms, 500);
    assert_eq!(c.send_timeout_ms, 500);
    assert_eq!(c.read_timeout_ms, 900);
    assert_eq!(c.call_timeout_ms(), 900);
}

#[test]
fn sentinel_given_in_part_is_refused_naming_the_missing_field() {
    let e = plugin(json!({"redis": {"sentinel_master": "mymaster",
        "sentinel_nodes": [{"host": "127.0.0.1", "port": 26379}]}}))
    .unwrap_err();
    assert_eq!(e.field, "redis.sentinel_role");
    assert!(
        e.message
            .starts_with("all or none of these fields must be set"),
        "{e}"
    );
}

#[test]
fn sentinel_with_nodes_and_deprecated_addresses() {
    let c = plugin(
        json!({"redis": {"sentinel_master": "mymaster", "sentinel_role": "any",
        "sentinel_addresses": ["127.0.0.1:26379", "[::1]:26380"]}}),
    )
    .unwrap();
    let RedisMode::Sentinel {
        master,
        role,
        nodes,
    } = c.mode
    else {
        panic!("not sentinel")
    };
    assert_eq!(master, "mymaster");
    assert_eq!(role, SentinelRole::Any);
    assert_eq!(nodes[1], NodeAddr::new("::1", 26380));
    assert_eq!(nodes[1].to_string(), "[::1]:26380");
}

#[test]
fn bad_deprecated_address_names_its_index() {
    let e =
        plugin(json!({"redis": {"cluster_addresses": ["127.0.0.1:7000", "nope"]}})).unwrap_err();
    assert_eq!(e.field, "redis.cluster_addresses[2]");
}

#[test]
fn cluster_nodes_use_ip_and_default_redirections() {
    let c =
        plugin(json!({"redis": {"cluster_nodes": [{"ip": "127.0.0.1", "port": 7001}]}})).unwrap();
    assert_eq!(
        c.mode,
        RedisMode::Cluster {
            nodes: vec![NodeAddr::new("127.0.0.1", 7001)],
            max_redirections: 5
        }
    );
    let e = plugin(json!({"redis": {"cluster_nodes": [{"host": "127.0.0.1"}]}})).unwrap_err();
    assert_eq!(e.field, "redis.cluster_nodes[1].host");
}

#[test]
fn sentinel_and_cluster_together_are_refused() {
    let e = plugin(
        json!({"redis": {"sentinel_master": "m", "sentinel_role": "master",
        "sentinel_nodes": [{"host": "a"}], "cluster_nodes": [{"ip": "b"}]}}),
    )
    .unwrap_err();
    assert_eq!(e.field, "redis.cluster_nodes");
}

#[test]
fn empty_node_list_and_bad_role_are_refused() {
    let e = plugin(json!({"redis": {"cluster_nodes": []}})).unwrap_err();
    assert_eq!(e.message, "length must be at least 1");
    let e = plugin(
        json!({"redis": {"sentinel_master": "m", "sentinel_role": "primary",
        "sentinel_nodes": [{"host": "a"}]}}),
    )
    .unwrap_err();
    assert_eq!(e.field, "redis.sentinel_role");
}

#[test]
fn tunnel_extension_and_invalid_host() {
    let c = plugin(json!({"redis": {"tunnel": "127.0.0.1:6390"}})).unwrap();
    assert_eq!(c.tunnel, "127.0.0.1:6390");
    let e = plugin(json!({"redis_host": "http://redis"})).unwrap_err();
    assert_eq!(e.field, "redis.host");
}

#[test]
fn kong_admin_nulls_are_unset() {
    let c = plugin(
        json!({"redis_host": null, "redis": {"host": null, "port": null,
        "sentinel_master": null, "cluster_nodes": null}}),
    )
    .unwrap();
    assert_eq!(
        c.mode,
        RedisMode::Standalone(NodeAddr::new("127.0.0.1", 6379))
    );
}

#[test]
fn block_parses_on_its_own() {
    let c = RedisConfig::parse(&json!({"host": "r", "database": 3})).unwrap();
    assert_eq!(c.database, 3);
}
