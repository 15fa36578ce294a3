//! The multiplexer with Sentinel and Cluster topologies: lookups run as jobs, parked parts wait
//! for them, failures look again, workers share what one found.

use super::tests::{ok, FakeHost};
use super::*;
use crate::config::RedisConfig;
use crate::job::{Pipeline, Request};
use crate::resp::{Command, Reply};
use crate::slot::key_slot;
use crate::topology::{self, RETRY_AFTER_FAILURE_MS};
use serde_json::json;

fn mux(redis: serde_json::Value) -> Mux {
    let config = RedisConfig::parse(&redis).unwrap();
    Mux::new(
        MuxConfig::from_redis(&config),
        Framing::new(&config),
        topology::from_config(&config),
    )
    .with_sentinel_framing(Framing::sentinel(&config))
}

fn sentinel_mux() -> Mux {
    mux(json!({
        "sentinel_master": "mymaster",
        "sentinel_role": "master",
        "sentinel_nodes": [{"host": "127.0.0.1", "port": 26379}, {"host": "127.0.0.1", "port": 26380}],
    }))
}

fn w(id: u32) -> Waiter {
    Waiter {
        context_id: id,
        tag: 0,
    }
}

fn incr(key: &str) -> Box<dyn Job> {
    Box::new(Pipeline::new(
        vec![Request::keyed(Command::new("INCR").arg(key), key)],
        3,
    ))
}

/// The last call: its node and the command names in its body.
fn last(host: &FakeHost) -> (String, String) {
    let (_, node, body) = host.sent.last().unwrap();
    (node.clone(), String::from_utf8_lossy(body).into_owned())
}

fn answer(m: &mut Mux, host: &mut FakeHost, body: &str) {
    let token = host.last_token();
    m.on_response(host, 0, token, &ok(body));
}

fn refused() -> CallResponse {
    CallResponse {
        failure: Some("connection refused".into()),
        ..CallResponse::default()
    }
}

const MASTER_6380: &str = "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n+OK\r\n";
const MASTER_6381: &str = "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6381\r\n+OK\r\n";
const ROLE_MASTER: &str = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n+OK\r\n";

fn outcome(m: &mut Mux, id: u32) -> Outcome {
    let f = m.take_finished();
    let i = f.iter().position(|f| f.waiter.context_id == id).unwrap();
    f.into_iter().nth(i).unwrap().outcome
}

#[test]
fn sentinel_lookup_runs_once_then_requests_go_straight_to_the_master() {
    let mut host = FakeHost::default();
    let mut m = sentinel_mux();
    assert!(matches!(
        m.submit(&mut host, 0, w(1), incr("a")),
        Submitted::Pending
    ));
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:26379");
    assert!(body.contains("get-master-addr-by-name") && body.contains("mymaster"));
    answer(&mut m, &mut host, MASTER_6380);
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:6380");
    assert!(body.contains("ROLE"));
    answer(&mut m, &mut host, ROLE_MASTER);
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:6380");
    assert!(body.contains("INCR"));
    answer(&mut m, &mut host, ":1\r\n+OK\r\n");
    assert_eq!(outcome(&mut m, 1).unwrap(), vec![Reply::Int(1)]);
    // The next request needs no lookup.
    let calls = host.sent.len();
    m.submit(&mut host, 10, w(2), incr("a"));
    assert_eq!(host.sent.len(), calls + 1);
    assert!(last(&host).1.contains("INCR"));
    assert_eq!(m.stats().lookups, 1);
}

#[test]
fn a_failed_master_is_looked_up_again_and_requests_follow_the_new_one() {
    let mut host = FakeHost::default();
    let mut m = sentinel_mux();
    m.submit(&mut host, 0, w(1), incr("a"));
    answer(&mut m, &mut host, MASTER_6380);
    answer(&mut m, &mut host, ROLE_MASTER);
    answer(&mut m, &mut host, ":1\r\n+OK\r\n");
    m.take_finished();
    // The master dies: this request fails, and the failure starts a lookup.
    m.submit(&mut host, 200, w(2), incr("a"));
    let token = host.last_token();
    m.on_response(&mut host, 200, token, &refused());
    assert!(outcome(&mut m, 2).is_err());
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:26379");
    assert!(body.contains("get-master-addr-by-name"));
    // A request meanwhile waits for it.
    m.submit(&mut host, 201, w(3), incr("a"));
    answer(&mut m, &mut host, MASTER_6381);
    answer(&mut m, &mut host, ROLE_MASTER);
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:6381");
    assert!(body.contains("INCR"));
    answer(&mut m, &mut host, ":2\r\n+OK\r\n");
    assert_eq!(outcome(&mut m, 3).unwrap(), vec![Reply::Int(2)]);
}

#[test]
fn readonly_means_the_master_was_demoted() {
    let mut host = FakeHost::default();
    let mut m = sentinel_mux();
    m.submit(&mut host, 0, w(1), incr("a"));
    answer(&mut m, &mut host, MASTER_6380);
    answer(&mut m, &mut host, ROLE_MASTER);
    let token = host.last_token();
    let readonly = ok("-READONLY You can't write against a read only replica.\r\n+OK\r\n");
    m.on_response(&mut host, 200, token, &readonly);
    assert!(last(&host).1.contains("get-master-addr-by-name"));
}

#[test]
fn a_failed_lookup_fails_the_waiting_requests_and_later_ones_fast() {
    let mut host = FakeHost::default();
    let mut m = sentinel_mux();
    m.submit(&mut host, 0, w(1), incr("a"));
    // Both sentinels unreachable.
    let token = host.last_token();
    m.on_response(&mut host, 0, token, &refused());
    assert_eq!(last(&host).0, "127.0.0.1:26380");
    let token = host.last_token();
    m.on_response(&mut host, 0, token, &refused());
    assert!(matches!(outcome(&mut m, 1), Err(RedisError::Transport(_))));
    let calls = host.sent.len();
    assert!(matches!(
        m.submit(&mut host, 10, w(2), incr("a")),
        Submitted::Done(Err(_))
    ));
    assert_eq!(host.sent.len(), calls, "no call while the lookup backs off");
    // After the pause, a new request starts a new lookup.
    m.submit(&mut host, RETRY_AFTER_FAILURE_MS + 1, w(3), incr("a"));
    assert_eq!(host.sent.len(), calls + 1);
}

#[test]
fn workers_share_one_lookup() {
    let mut host = FakeHost::default();
    let mut a = sentinel_mux();
    let mut b = sentinel_mux();
    a.submit(&mut host, 0, w(1), incr("a"));
    answer(&mut a, &mut host, MASTER_6380);
    answer(&mut a, &mut host, ROLE_MASTER);
    b.submit(&mut host, 5, w(2), incr("a"));
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:6380");
    assert!(body.contains("INCR"));
    assert_eq!(b.stats().lookups, 0);
}

fn cluster_slots(ports: [u16; 3]) -> String {
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    let mut out = "*3\r\n".to_string();
    for ((first, last), port) in ranges.iter().zip(ports) {
        out.push_str(&format!(
            "*3\r\n:{first}\r\n:{last}\r\n*3\r\n$9\r\n127.0.0.1\r\n:{port}\r\n$2\r\nid\r\n"
        ));
    }
    out.push_str("+OK\r\n");
    out
}

fn cluster_mux() -> Mux {
    mux(json!({
        "cluster_nodes": [{"ip": "127.0.0.1", "port": 7001}],
        "database": 3,
    }))
}

fn port_for(slot: u16) -> u16 {
    match slot {
        0..=5460 => 7001,
        5461..=10922 => 7002,
        _ => 7003,
    }
}

#[test]
fn cluster_sends_each_slot_to_its_master_in_parallel() {
    let mut host = FakeHost::default();
    let mut m = cluster_mux();
    let job = Box::new(Pipeline::new(
        vec![
            Request::keyed(Command::new("INCR").arg("foo"), "foo"),
            Request::keyed(Command::new("INCR").arg("bar"), "bar"),
        ],
        3,
    ));
    m.submit(&mut host, 0, w(1), job);
    let (node, body) = last(&host);
    assert_eq!(node, "127.0.0.1:7001");
    assert!(body.contains("CLUSTER") && !body.contains("SELECT"));
    answer(&mut m, &mut host, &cluster_slots([7001, 7002, 7003]));
    let calls: Vec<(u32, String)> = host.sent[1..]
        .iter()
        .map(|(t, n, _)| (*t, n.clone()))
        .collect();
    let foo = format!("127.0.0.1:{}", port_for(key_slot(b"foo")));
    let bar = format!("127.0.0.1:{}", port_for(key_slot(b"bar")));
    assert_eq!(
        calls.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
        vec![foo.clone(), bar.clone()]
    );
    // Answers in any order; the job gets its replies in request order.
    m.on_response(&mut host, 1, calls[1].0, &ok(":20\r\n+OK\r\n"));
    assert!(m.take_finished().is_empty());
    m.on_response(&mut host, 1, calls[0].0, &ok(":10\r\n+OK\r\n"));
    assert_eq!(outcome_of(&mut m, 1), vec![Reply::Int(10), Reply::Int(20)]);
}

fn outcome_of(m: &mut Mux, id: u32) -> Vec<Reply> {
    outcome(m, id).unwrap()
}

#[test]
fn moved_is_followed_and_remembered() {
    let mut host = FakeHost::default();
    let mut m = cluster_mux();
    m.submit(&mut host, 0, w(1), incr("foo"));
    answer(&mut m, &mut host, &cluster_slots([7001, 7002, 7003]));
    let slot = key_slot(b"foo");
    answer(
        &mut m,
        &mut host,
        &format!("-MOVED {slot} 127.0.0.1:7009\r\n+OK\r\n"),
    );
    assert_eq!(last(&host).0, "127.0.0.1:7009");
    answer(&mut m, &mut host, ":1\r\n+OK\r\n");
    assert_eq!(outcome_of(&mut m, 1), vec![Reply::Int(1)]);
    // The map was updated at once; a fresh map is asked for in the background.
    m.submit(&mut host, 1, w(2), incr("foo"));
    let nodes: Vec<String> = host
        .sent
        .iter()
        .rev()
        .take(2)
        .map(|(_, n, _)| n.clone())
        .collect();
    assert!(nodes.contains(&"127.0.0.1:7009".to_string()), "{nodes:?}");
    m.submit(&mut host, 500, w(3), incr("zzz"));
    assert!(host
        .sent
        .iter()
        .skip(3)
        .any(|(_, _, b)| String::from_utf8_lossy(b).contains("SLOTS")));
}
