use super::*;
use crate::resp::ServerError;

fn err(line: &str) -> Reply {
    Reply::Error(ServerError::parse(line))
}

fn sent(step: &Step) -> (Target, Vec<String>) {
    match step {
        Step::Send { target, commands } => {
            (target.clone(), commands.iter().map(|c| c.name()).collect())
        }
        Step::Done(o) => panic!("done early: {o:?}"),
    }
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
