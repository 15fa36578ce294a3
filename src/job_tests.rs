use super::*;
use crate::resp::ServerError;

fn err(line: &str) -> Reply {
    Reply::Error(ServerError::parse(line))
}

/// The parts of a step: target and command names.
fn parts(step: &Step) -> Vec<(Target, Vec<String>)> {
    match step {
        Step::Send(parts) => parts
            .iter()
            .map(|p| {
                (
                    p.target.clone(),
                    p.commands.iter().map(|c| c.name()).collect(),
                )
            })
            .collect(),
        Step::Done(o) => panic!("done early: {o:?}"),
    }
}

/// A step of one part.
fn sent(step: &Step) -> (Target, Vec<String>) {
    let mut p = parts(step);
    assert_eq!(p.len(), 1, "one part expected");
    p.remove(0)
}

fn done(step: Step) -> Vec<Reply> {
    match step {
        Step::Done(Ok(r)) => r,
        other => panic!("not done: {other:?}"),
    }
}

#[test]
fn plain_pipeline_is_one_step() {
    let mut job = Pipeline::commands(vec![
        Command::new("INCR").arg("a"),
        Command::new("GET").arg("b"),
    ]);
    let step = job.start();
    assert_eq!(
        sent(&step),
        (Target::Default, vec!["INCR".into(), "GET".into()])
    );
    let replies = done(job.on_replies(vec![Reply::Int(1), Reply::Nil]));
    assert_eq!(replies, vec![Reply::Int(1), Reply::Nil]);
}

#[test]
fn noscript_is_retried_once_as_eval_and_replies_keep_their_order() {
    let script = Script::new("return 7");
    let mut job = Pipeline::new(
        vec![
            Command::new("PING").into(),
            Request::script::<&str, &str>(&script, &[], &[]),
        ],
        0,
    );
    job.start();
    let step = job.on_replies(vec![
        Reply::Status("PONG".into()),
        err("NOSCRIPT No matching script."),
    ]);
    assert_eq!(sent(&step).1, vec!["EVAL".to_string()]);
    let replies = done(job.on_replies(vec![Reply::Int(7)]));
    assert_eq!(replies, vec![Reply::Status("PONG".into()), Reply::Int(7)]);
}

#[test]
fn second_noscript_is_returned_not_looped() {
    let script = Script::new("return 7");
    let mut job = Pipeline::new(vec![Request::script::<&str, &str>(&script, &[], &[])], 0);
    job.start();
    job.on_replies(vec![err("NOSCRIPT x")]);
    let replies = done(job.on_replies(vec![err("NOSCRIPT x")]));
    assert!(replies[0].error().is_some());
}

#[test]
fn moved_and_ask_follow_redis_with_a_bound() {
    let mut job = Pipeline::new(vec![Command::new("INCR").arg("k").into()], 2);
    job.start();
    let step = job.on_replies(vec![err("MOVED 1 127.0.0.1:7001")]);
    assert_eq!(
        sent(&step).0,
        Target::Node(NodeAddr::new("127.0.0.1", 7001))
    );
    let step = job.on_replies(vec![err("ASK 1 127.0.0.1:7002")]);
    assert_eq!(
        sent(&step),
        (
            Target::Node(NodeAddr::new("127.0.0.1", 7002)),
            vec!["ASKING".into(), "INCR".into()]
        )
    );
    let step = job.on_replies(vec![
        Reply::Status("OK".into()),
        err("MOVED 1 127.0.0.1:7003"),
    ]);
    let replies = done(step);
    assert!(matches!(
        &replies[0].error().unwrap().kind,
        ServerErrorKind::Moved { .. }
    ));
}

#[test]
fn wrong_reply_count_fails_the_job() {
    let mut job = Pipeline::commands(vec![Command::new("PING")]);
    job.start();
    assert!(matches!(
        job.on_replies(vec![]),
        Step::Done(Err(RedisError::Protocol(_)))
    ));
}

#[test]
fn empty_pipeline_is_done_at_once() {
    assert!(matches!(Pipeline::commands(vec![]).start(), Step::Done(Ok(v)) if v.is_empty()));
}

#[test]
fn keyed_requests_are_grouped_by_slot_and_replies_keep_request_order() {
    use crate::slot::key_slot;
    let mut job = Pipeline::new(
        vec![
            Request::keyed(Command::new("INCR").arg("foo"), "foo"),
            Request::keyed(Command::new("INCR").arg("bar"), "bar"),
            Request::keyed(Command::new("GET").arg("{foo}x"), "{foo}x"),
        ],
        0,
    );
    let step = job.start();
    assert_eq!(
        parts(&step),
        vec![
            (
                Target::Slot(key_slot(b"foo")),
                vec!["INCR".into(), "GET".into()]
            ),
            (Target::Slot(key_slot(b"bar")), vec!["INCR".into()]),
        ]
    );
    // Replies come back part by part: foo, {foo}x, then bar.
    let replies = done(job.on_replies(vec![Reply::Int(1), Reply::Nil, Reply::Int(2)]));
    assert_eq!(replies, vec![Reply::Int(1), Reply::Int(2), Reply::Nil]);
}

#[test]
fn a_script_goes_to_its_keys_slot_or_default_when_they_span_slots() {
    let script = Script::new("return 1");
    let one = Request::script(&script, &["{t}a", "{t}b"], &["1"]);
    assert_eq!(one.slot, Some(crate::slot::key_slot(b"t")));
    let spread = Request::script(&script, &["foo", "bar"], &["1"]);
    assert_eq!(spread.slot, None);
}

#[test]
fn noscript_after_ask_goes_back_to_the_same_node_with_asking() {
    let script = Script::new("return 7");
    let mut job = Pipeline::new(vec![Request::script(&script, &["k"], &["1"])], 3);
    job.start();
    let target = Target::Node(NodeAddr::new("127.0.0.1", 7002));
    let step = job.on_replies(vec![err("ASK 1 127.0.0.1:7002")]);
    assert_eq!(
        sent(&step),
        (target.clone(), vec!["ASKING".into(), "EVALSHA".into()])
    );
    let step = job.on_replies(vec![Reply::Status("OK".into()), err("NOSCRIPT x")]);
    assert_eq!(sent(&step), (target, vec!["ASKING".into(), "EVAL".into()]));
    let replies = done(job.on_replies(vec![Reply::Status("OK".into()), Reply::Int(7)]));
    assert_eq!(replies, vec![Reply::Int(7)]);
}

#[test]
fn redirects_to_several_nodes_leave_together() {
    let mut job = Pipeline::new(
        vec![
            Request::keyed(Command::new("INCR").arg("a"), "a"),
            Request::keyed(Command::new("INCR").arg("b"), "b"),
        ],
        1,
    );
    job.start();
    // a and b share no slot, so they went in two parts: replies a then b (slot order of parts).
    let step = job.on_replies(vec![
        err("MOVED 1 127.0.0.1:7001"),
        err("MOVED 2 127.0.0.1:7002"),
    ]);
    let p = parts(&step);
    assert_eq!(p.len(), 2);
    let replies = done(job.on_replies(vec![Reply::Int(1), Reply::Int(2)]));
    assert_eq!(replies, vec![Reply::Int(1), Reply::Int(2)]);
}
