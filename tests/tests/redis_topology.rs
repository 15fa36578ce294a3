//! The Sentinel and Cluster fixtures themselves, against real redis-server/redis-sentinel.

use e2e_tests::eventually;
use std::time::{Duration, Instant};

use e2e_tests::cluster::{key_slot, RedisCluster};
use e2e_tests::redis_server::Resp;
use e2e_tests::sentinel::{SentinelGroup, SentinelOptions};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// Polls `f` until it is true (replication and gossip are asynchronous).

#[test]
fn sentinel_group_starts_and_the_replica_follows_the_master() {
    let started = Instant::now();
    let group = SentinelGroup::start(SentinelOptions::default());
    println!("sentinel group ready in {:?}", started.elapsed());
    assert_eq!(group.master_name(), "mymaster");
    assert_eq!(group.sentinel_ports().len(), 3);
    assert_eq!(group.current_master_port(), group.master().port);
    for port in group.sentinel_ports() {
        assert_eq!(group.sentinel_master_port(port), Some(group.master().port));
    }
    assert_eq!(
        group.master().request(&["SET", "k", "v"]).unwrap(),
        Resp::Status("OK".into())
    );
    eventually("the replica has k", Duration::from_secs(5), || {
        group.replica().request(&["GET", "k"]).unwrap() == bulk("v")
    });
    let write = group.replica().request(&["SET", "k", "w"]).unwrap();
    assert!(
        write.error().is_some_and(|e| e.starts_with("READONLY")),
        "{write}"
    );
}

#[test]
fn sentinel_failover_promotes_the_replica() {
    let group = SentinelGroup::start(SentinelOptions::default());
    let (old_master, old_replica) = (group.master().port, group.replica().port);
    group.master().request(&["SET", "before", "1"]).unwrap();
    eventually("the replica has the key", Duration::from_secs(5), || {
        group.replica().request(&["GET", "before"]).unwrap() == bulk("1")
    });

    let killed = Instant::now();
    assert_eq!(group.kill_master(), old_master);
    let took = group.wait_failover(Duration::from_secs(15));
    println!("sentinel failover (down-after 1000 ms) took {took:?}");

    assert_eq!(group.master().port, old_replica);
    assert_eq!(group.replica().port, old_master);
    assert!(!group.replica().is_running());
    assert_eq!(
        group.master().info_field("replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        group.master().request(&["GET", "before"]).unwrap(),
        bulk("1")
    );
    assert!(group
        .master()
        .request(&["SET", "after", "2"])
        .unwrap()
        .is_ok());
    // The other sentinels learn the new master from the leader's hello messages.
    group.wait_sentinels_agree(Duration::from_secs(10));
    println!(
        "all 3 sentinels agree {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(group.current_master_port(), old_replica);
}

#[test]
fn sentinel_manual_failover_promotes_the_replica() {
    let group = SentinelGroup::start(SentinelOptions::default());
    let (old_master, old_replica) = (group.master().port, group.replica().port);
    group.trigger_failover();
    let took = group.wait_failover(Duration::from_secs(15));
    println!("SENTINEL FAILOVER took {took:?}");
    assert_eq!(
        (group.master().port, group.replica().port),
        (old_replica, old_master)
    );
    assert!(group
        .master()
        .request(&["SET", "k", "after"])
        .unwrap()
        .is_ok());
    group.wait_sentinels_agree(Duration::from_secs(10));
    // The old master still runs; the sentinels turn it into a replica only ~10 s later.
    assert!(group.replica().is_running());
}

#[test]
fn sentinel_group_with_passwords_fails_over() {
    let group = SentinelGroup::start(SentinelOptions {
        master_name: "authed".into(),
        password: Some("data-pw".into()),
        sentinel_password: Some("sentinel-pw".into()),
        ..SentinelOptions::default()
    });
    let sentinel = group.sentinel_ports()[0];
    let anonymous = e2e_tests::redis_server::request(sentinel, None, &["PING"]).unwrap();
    assert!(
        anonymous.error().is_some_and(|e| e.starts_with("NOAUTH")),
        "{anonymous}"
    );
    let master = group.master().port;
    let anonymous = e2e_tests::redis_server::request(master, None, &["GET", "k"]).unwrap();
    assert!(
        anonymous.error().is_some_and(|e| e.starts_with("NOAUTH")),
        "{anonymous}"
    );
    let wrong = e2e_tests::redis_server::request(master, Some("nope"), &["GET", "k"]).unwrap();
    assert!(
        wrong.error().is_some_and(|e| e.starts_with("WRONGPASS")),
        "{wrong}"
    );
    assert!(group.master().request(&["SET", "k", "v"]).unwrap().is_ok());
    assert_eq!(group.master().cmd(&["GET", "k"]), b"$1\r\nv\r\n");

    group.kill_master();
    let took = group.wait_failover(Duration::from_secs(15));
    println!("sentinel failover with passwords took {took:?}");
    group.wait_sentinels_agree(Duration::from_secs(10));
    assert_eq!(group.current_master_port(), group.master().port);
    assert!(group.master().request(&["SET", "k", "w"]).unwrap().is_ok());
}

#[test]
fn key_slot_follows_redis_hash_tags() {
    assert_eq!(key_slot(b"123456789"), 0x31C3);
    let cluster = RedisCluster::start(3, 0);
    for key in [
        "",
        "a",
        "foo",
        "{user1000}.following",
        "{user1000}.followers",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{}",
        "{",
        "}{x}",
        "rate:{tenant-7}:1700000000",
        "ключ",
    ] {
        let theirs = cluster.cmd_on(cluster.seed(), &["CLUSTER", "KEYSLOT", key]);
        assert_eq!(
            Some(i64::from(cluster.key_slot(key))),
            theirs.int(),
            "{key:?}"
        );
    }
    assert_eq!(
        cluster.key_slot("{user1000}.following"),
        cluster.key_slot("{user1000}.followers")
    );
}

#[test]
fn cluster_of_three_masters_serves_each_key_on_its_slot_owner() {
    let started = Instant::now();
    let cluster = RedisCluster::start(3, 0);
    println!("3-master cluster ready in {:?}", started.elapsed());
    assert_eq!(cluster.nodes().len(), 3);
    let mut masters = cluster.masters();
    masters.sort_unstable();
    let mut nodes = cluster.nodes();
    nodes.sort_unstable();
    assert_eq!(masters, nodes);
    for port in cluster.nodes() {
        let info = cluster.cmd_on(port, &["CLUSTER", "INFO"]).text().unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    }
    let mut owners = std::collections::BTreeSet::new();
    for i in 0..30 {
        let key = format!("key:{i}");
        let slot = cluster.key_slot(&key);
        let owner = cluster.master_for_slot(slot);
        owners.insert(owner);
        assert!(cluster
            .cmd_on(owner, &["SET", &key, &i.to_string()])
            .is_ok());
        assert_eq!(cluster.cmd_on(owner, &["GET", &key]), bulk(&i.to_string()));
        for other in cluster.nodes().into_iter().filter(|&p| p != owner) {
            let moved = cluster.cmd_on(other, &["GET", &key]);
            assert_eq!(
                moved.error(),
                Some(format!("MOVED {slot} 127.0.0.1:{owner}").as_str()),
                "{key} on {other}"
            );
        }
    }
    assert_eq!(owners.len(), 3, "30 keys should land on every master");
}

#[test]
fn cluster_with_replicas_replicates_and_fails_over() {
    let started = Instant::now();
    let cluster = RedisCluster::start(3, 1);
    println!("3+3 cluster ready in {:?}", started.elapsed());
    assert_eq!(cluster.nodes().len(), 6);
    assert_eq!(cluster.masters().len(), 3);
    let key = "{replicated}k";
    let owner = cluster.master_for_slot(cluster.key_slot(key));
    let replicas = cluster.replicas_of(owner);
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    let replica = replicas[0];
    assert!(cluster.cmd_on(owner, &["SET", key, "v"]).is_ok());
    eventually(
        "READONLY GET on the replica",
        Duration::from_secs(5),
        || {
            let replies = cluster.pipeline_on(replica, &[vec!["READONLY"], vec!["GET", key]]);
            replies[1] == bulk("v")
        },
    );

    cluster.kill_node(owner);
    let killed = Instant::now();
    eventually(
        "the replica takes over the slot",
        Duration::from_secs(15),
        || cluster.master_for_slot(cluster.key_slot(key)) == replica,
    );
    cluster.wait_ready(Duration::from_secs(10));
    println!(
        "cluster failover (node timeout 1000 ms) took {:?}",
        killed.elapsed()
    );
    assert_eq!(cluster.cmd_on(replica, &["GET", key]), bulk("v"));
    assert!(cluster.cmd_on(replica, &["SET", key, "w"]).is_ok());

    // The old master comes back (same port and nodes.conf) as the new master's replica.
    cluster.restart_node(owner);
    cluster.wait_ready(Duration::from_secs(10));
    assert_eq!(cluster.replicas_of(replica), vec![owner]);
    let moved = cluster.cmd_on(owner, &["GET", key]);
    assert_eq!(
        moved.error(),
        Some(format!("MOVED {} 127.0.0.1:{replica}", cluster.key_slot(key)).as_str())
    );
}

/// 10 keys in one slot (one hash tag), set through its owner; returns the keys and the slot.
fn keys_in_one_slot(cluster: &RedisCluster, tag: &str) -> (Vec<String>, u16) {
    let keys: Vec<String> = (0..10).map(|i| format!("{{{tag}}}:{i}")).collect();
    let slot = cluster.key_slot(&keys[0]);
    let owner = cluster.master_for_slot(slot);
    for (i, k) in keys.iter().enumerate() {
        assert!(cluster.cmd_on(owner, &["SET", k, &i.to_string()]).is_ok());
    }
    (keys, slot)
}

#[test]
fn migrate_slot_moves_the_keys_and_the_old_owner_answers_moved() {
    let cluster = RedisCluster::start(3, 0);
    let (keys, slot) = keys_in_one_slot(&cluster, "mig");
    let from = cluster.master_for_slot(slot);
    let to = *cluster.nodes().iter().find(|&&p| p != from).unwrap();

    let started = Instant::now();
    cluster.migrate_slot(slot, to);
    println!("migrated slot {slot} (10 keys) in {:?}", started.elapsed());

    assert_eq!(cluster.master_for_slot(slot), to);
    for port in cluster.nodes() {
        let view = cluster.nodes_view(port).unwrap();
        let owner = view
            .iter()
            .find(|n| n.is_master() && n.serves(slot))
            .unwrap();
        assert_eq!(owner.port, to, "as {port} sees it");
    }
    let s = slot.to_string();
    let count = cluster.cmd_on(to, &["CLUSTER", "COUNTKEYSINSLOT", &s]);
    assert_eq!(count, Resp::Int(10));
    let count = cluster.cmd_on(from, &["CLUSTER", "COUNTKEYSINSLOT", &s]);
    assert_eq!(count, Resp::Int(0));
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(cluster.cmd_on(to, &["GET", k]), bulk(&i.to_string()));
        let moved = cluster.cmd_on(from, &["GET", k]);
        assert_eq!(
            moved.error(),
            Some(format!("MOVED {slot} 127.0.0.1:{to}").as_str())
        );
    }
    // The rest of the cluster is untouched.
    cluster.wait_ready(Duration::from_secs(5));
}

#[test]
fn a_half_migrated_slot_answers_ask_for_a_moved_key() {
    let cluster = RedisCluster::start(3, 0);
    let (keys, slot) = keys_in_one_slot(&cluster, "half");
    let from = cluster.master_for_slot(slot);
    let to = *cluster.nodes().iter().find(|&&p| p != from).unwrap();

    let migration = cluster.begin_migration(slot, to);
    assert_eq!(
        (migration.slot, migration.from, migration.to),
        (slot, from, to)
    );
    assert_eq!(cluster.migrate_some_keys(3), 3);
    let s = slot.to_string();
    assert_eq!(
        cluster.cmd_on(to, &["CLUSTER", "COUNTKEYSINSLOT", &s]),
        Resp::Int(3)
    );
    let moved: Vec<String> = cluster
        .cmd_on(to, &["CLUSTER", "GETKEYSINSLOT", &s, "100"])
        .items()
        .iter()
        .map(|k| k.text().unwrap())
        .collect();
    assert_eq!(moved.len(), 3);
    // Still its owner, as everyone sees it.
    assert_eq!(cluster.master_for_slot(slot), from);
    for (i, k) in keys.iter().enumerate() {
        let value = bulk(&i.to_string());
        if moved.contains(k) {
            let ask = cluster.cmd_on(from, &["GET", k]);
            assert_eq!(
                ask.error(),
                Some(format!("ASK {slot} 127.0.0.1:{to}").as_str())
            );
            let direct = cluster.cmd_on(to, &["GET", k]);
            assert_eq!(
                direct.error(),
                Some(format!("MOVED {slot} 127.0.0.1:{from}").as_str())
            );
            let asking = cluster.pipeline_on(to, &[vec!["ASKING"], vec!["GET", k]]);
            assert_eq!(asking, vec![Resp::Status("OK".into()), value]);
        } else {
            assert_eq!(cluster.cmd_on(from, &["GET", k]), value);
        }
    }
    // A new key of the slot goes to the target (the owner does not have it).
    let new_key = "{half}:new";
    let ask = cluster.cmd_on(from, &["SET", new_key, "n"]);
    assert_eq!(
        ask.error(),
        Some(format!("ASK {slot} 127.0.0.1:{to}").as_str())
    );

    assert_eq!(cluster.migrate_some_keys(100), 7);
    assert_eq!(cluster.migrate_some_keys(100), 0);
    cluster.finish_migration();
    assert!(cluster.migration().is_none());
    assert_eq!(cluster.master_for_slot(slot), to);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(cluster.cmd_on(to, &["GET", k]), bulk(&i.to_string()));
    }
}
