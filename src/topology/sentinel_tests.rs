use super::*;
use crate::job::Part;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn node(port: u16) -> NodeAddr {
    NodeAddr::new("127.0.0.1", port)
}

fn only(step: Step) -> Part {
    match step {
        Step::Send(mut parts) if parts.len() == 1 => parts.remove(0),
        other => panic!("expected one part, got {other:?}"),
    }
}

fn found(step: Step) -> String {
    match step {
        Step::Done(Ok(r)) => String::from_utf8(r[0].as_bytes().unwrap().to_vec()).unwrap(),
        other => panic!("not found: {other:?}"),
    }
}

fn master_reply(port: u16) -> Reply {
    Reply::Array(vec![bulk("127.0.0.1"), bulk(&port.to_string())])
}

fn role(r: &str) -> Reply {
    Reply::Array(vec![bulk(r), Reply::Int(0), Reply::Array(vec![])])
}

fn replica(port: u16, flags: &str, link: &str) -> Reply {
    let fields = [
        ("name", format!("127.0.0.1:{port}")),
        ("ip", "127.0.0.1".into()),
        ("port", port.to_string()),
        ("flags", flags.into()),
        ("master-link-status", link.into()),
    ];
    Reply::Array(
        fields
            .iter()
            .flat_map(|(k, v)| [bulk(k), bulk(v)])
            .collect(),
    )
}

#[test]
fn master_is_asked_then_checked_with_role() {
    let mut job = SentinelLookup::new("mymaster", SentinelRole::Master, vec![node(26379)]);
    let p = only(job.start());
    assert_eq!(p.target, Target::Sentinel(node(26379)));
    assert_eq!(p.commands[0].name(), "SENTINEL");
    let p = only(job.on_replies(vec![master_reply(6380)]));
    assert_eq!(p.target, Target::Node(node(6380)));
    assert_eq!(p.commands[0].name(), "ROLE");
    assert_eq!(
        found(job.on_replies(vec![role("master")])),
        "127.0.0.1:6380"
    );
}

#[test]
fn a_dead_or_ignorant_sentinel_is_skipped() {
    let mut job = SentinelLookup::new("m", SentinelRole::Master, vec![node(1), node(2), node(3)]);
    job.start();
    let p = only(job.on_failure(RedisError::Transport("refused".into())));
    assert_eq!(p.target, Target::Sentinel(node(2)));
    let p = only(job.on_replies(vec![Reply::Nil]));
    assert_eq!(p.target, Target::Sentinel(node(3)));
    only(job.on_replies(vec![master_reply(6380)]));
    assert_eq!(
        found(job.on_replies(vec![role("master")])),
        "127.0.0.1:6380"
    );
}

#[test]
fn a_master_that_is_not_one_moves_on_and_all_failing_is_an_error() {
    let mut job = SentinelLookup::new("m", SentinelRole::Master, vec![node(1)]);
    job.start();
    only(job.on_replies(vec![master_reply(6380)]));
    match job.on_replies(vec![role("slave")]) {
        Step::Done(Err(RedisError::Transport(msg))) => {
            assert!(msg.contains("not a master"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn slave_role_picks_a_healthy_replica() {
    let mut job = SentinelLookup::new("m", SentinelRole::Slave, vec![node(1)]);
    job.start();
    let p = only(job.on_replies(vec![master_reply(6380)]));
    assert_eq!(p.target, Target::Sentinel(node(1)));
    let replicas = Reply::Array(vec![
        replica(6381, "slave,s_down", "err"),
        replica(6382, "slave", "err"),
        replica(6383, "slave", "ok"),
    ]);
    assert_eq!(found(job.on_replies(vec![replicas])), "127.0.0.1:6383");
}

#[test]
fn any_role_settles_for_a_replica_when_the_master_is_unreachable() {
    let mut job = SentinelLookup::new("m", SentinelRole::Any, vec![node(1)]);
    job.start();
    only(job.on_replies(vec![master_reply(6380)]));
    let p = only(job.on_failure(RedisError::Transport("refused".into())));
    assert_eq!(p.target, Target::Sentinel(node(1)));
    let replicas = Reply::Array(vec![replica(6381, "slave", "ok")]);
    assert_eq!(found(job.on_replies(vec![replicas])), "127.0.0.1:6381");
}
