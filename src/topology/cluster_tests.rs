use super::*;

fn node(port: u16) -> NodeAddr {
    NodeAddr::new("127.0.0.1", port)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn range(first: i64, last: i64, ip: &str, port: i64) -> Reply {
    Reply::Array(vec![
        Reply::Int(first),
        Reply::Int(last),
        Reply::Array(vec![bulk(ip), Reply::Int(port), bulk("id")]),
        Reply::Array(vec![bulk(ip), Reply::Int(port + 100), bulk("id2")]),
    ])
}

fn three() -> Reply {
    Reply::Array(vec![
        range(0, 5460, "127.0.0.1", 7001),
        range(5461, 10922, "127.0.0.1", 7002),
        range(10923, 16383, "", 7003),
    ])
}

#[test]
fn cluster_slots_reply_becomes_a_map() {
    let map = SlotMap::from_cluster_slots(&three(), &node(7001)).unwrap();
    assert_eq!(map.covered(), 16384);
    assert_eq!(map.node(0), Some(&node(7001)));
    assert_eq!(map.node(5461), Some(&node(7002)));
    assert_eq!(
        map.node(16383),
        Some(&node(7003)),
        "empty ip: the node asked"
    );
    assert_eq!(map.nodes().len(), 3);
}

#[test]
fn text_round_trip_and_moved_slots() {
    let mut map = SlotMap::from_cluster_slots(&three(), &node(7001)).unwrap();
    map.assign(100, 100, &node(7003));
    let text = map.to_text();
    assert_eq!(
        text,
        "0-99 127.0.0.1:7001\n100-100 127.0.0.1:7003\n101-5460 127.0.0.1:7001\n\
         5461-10922 127.0.0.1:7002\n10923-16383 127.0.0.1:7003\n"
    );
    assert_eq!(SlotMap::from_text(&text).unwrap(), map);
}

#[test]
fn bad_replies_give_no_map() {
    assert!(SlotMap::from_cluster_slots(&Reply::Array(vec![]), &node(1)).is_none());
    assert!(SlotMap::from_cluster_slots(&Reply::Nil, &node(1)).is_none());
    let bad = Reply::Array(vec![Reply::Array(vec![Reply::Int(0)])]);
    assert!(SlotMap::from_cluster_slots(&bad, &node(1)).is_none());
    assert!(SlotMap::from_text("garbage").is_none());
}

#[test]
fn lookup_tries_nodes_in_turn() {
    let mut job = ClusterSlotsLookup::new(vec![node(7001), node(7002)]);
    let first = job.start();
    assert!(matches!(&first, Step::Send(p) if p[0].target == Target::Node(node(7001))));
    let second = job.on_failure(RedisError::Transport("refused".into()));
    assert!(matches!(&second, Step::Send(p) if p[0].target == Target::Node(node(7002))));
    match job.on_replies(vec![three()]) {
        Step::Done(Ok(r)) => {
            let text = String::from_utf8(r[0].as_bytes().unwrap().to_vec()).unwrap();
            assert!(text.starts_with("0-5460 127.0.0.1:7001\n"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let mut job = ClusterSlotsLookup::new(vec![node(7001)]);
    job.start();
    assert!(matches!(
        job.on_replies(vec![Reply::Error(crate::resp::ServerError::parse(
            "ERR This instance has cluster support disabled"
        ))]),
        Step::Done(Err(_))
    ));
}
