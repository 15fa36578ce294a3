//! The RESP client and the tunnel framing against a real redis-server: what goes on the wire is
//! what Redis understands, and what Redis answers is read right, errors included.

use e2e_tests::RedisServer;
use redis_filter_core::config::{NodeAddr, RedisConfig};
use redis_filter_core::job::{Job, Pipeline, Request};
use redis_filter_core::resp::{RedisError, ServerErrorKind};
use redis_filter_core::shared_data::{Memory, SetError};
use redis_filter_core::topology;
use redis_filter_core::transport::{
    CallResponse, Dispatcher, Framing, Mux, MuxConfig, Submitted, Waiter,
};
use redis_filter_core::SharedData;
use redis_filter_core::{Command, Reply, Script};
use serde_json::json;
use std::collections::VecDeque;

/// A host whose tunnel is a plain TCP exchange with the node: what the harness and Envoy do.
#[derive(Default)]
struct TcpTunnel {
    answers: VecDeque<(u32, CallResponse)>,
    next: u32,
    shared: Memory,
}

impl SharedData for TcpTunnel {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.shared.get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        self.shared.set(key, value, cas)
    }
}

impl Dispatcher for TcpTunnel {
    fn current_context(&self) -> u32 {
        0
    }

    fn dispatch(
        &mut self,
        _up: &str,
        node: &NodeAddr,
        body: Vec<u8>,
        _t: u32,
        _tls: Option<&redis_filter_core::transport::TlsAsk>,
    ) -> Result<u32, String> {
        let mut s = std::net::TcpStream::connect((node.host.as_str(), node.port))
            .map_err(|e| e.to_string())?;
        use std::io::{Read, Write};
        s.write_all(&body).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).map_err(|e| e.to_string())?;
        self.next += 1;
        self.answers.push_back((
            self.next,
            CallResponse {
                status: Some(200),
                failure: None,
                body: out,
            },
        ));
        Ok(self.next)
    }
}

fn run(redis: serde_json::Value, job: Box<dyn Job>) -> Result<Vec<Reply>, RedisError> {
    let config = RedisConfig::parse(&redis).unwrap();
    let mut mux = Mux::new(
        MuxConfig::from_redis(&config),
        Framing::new(&config),
        topology::from_config(&config),
    )
    .with_sentinel_framing(Framing::sentinel(&config));
    let mut host = TcpTunnel::default();
    let waiter = Waiter {
        context_id: 1,
        tag: 0,
    };
    if let Submitted::Done(outcome) = mux.submit(&mut host, 0, waiter, job) {
        return outcome;
    }
    while let Some((token, answer)) = host.answers.pop_front() {
        mux.on_response(&mut host, 1, token, &answer);
    }
    let mut done = mux.take_finished();
    assert_eq!(done.len(), 1);
    done.pop().unwrap().outcome
}

fn pipeline(cmds: Vec<Command>) -> Box<dyn Job> {
    Box::new(Pipeline::commands(cmds))
}

#[test]
fn a_pipeline_of_n_commands_gets_n_replies_from_redis() {
    let redis = RedisServer::start(&[]);
    let replies = run(
        json!({"port": redis.port}),
        pipeline(vec![
            Command::new("SET").arg("k").arg(&b"bin\r\n\0"[..]),
            Command::new("GET").arg("k"),
            Command::new("INCR").arg("n"),
            Command::new("GET").arg("missing"),
            Command::new("LPUSH").arg("k").arg("x"),
        ]),
    )
    .unwrap();
    assert_eq!(replies.len(), 5);
    assert!(replies[0].is_ok());
    assert_eq!(replies[1].as_bytes(), Some(&b"bin\r\n\0"[..]));
    assert_eq!(replies[2], Reply::Int(1));
    assert_eq!(replies[3], Reply::Nil);
    assert_eq!(
        replies[4].error().unwrap().kind,
        ServerErrorKind::Other("WRONGTYPE".into())
    );
}

#[test]
fn evalsha_falls_back_to_eval_on_a_fresh_server_then_hits_the_cache() {
    let redis = RedisServer::start(&[]);
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let job = |n: i64| -> Box<dyn Job> {
        Box::new(Pipeline::new(
            vec![Request::script(&script, &["c"], &[n])],
            0,
        ))
    };
    assert_eq!(
        run(json!({"port": redis.port}), job(5)).unwrap(),
        vec![Reply::Int(5)]
    );
    assert_eq!(
        run(json!({"port": redis.port}), job(2)).unwrap(),
        vec![Reply::Int(7)]
    );
    let raw = redis.exchange(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n*1\r\n$4\r\nQUIT\r\n");
    let info = String::from_utf8_lossy(&raw);
    assert!(info.contains("cmdstat_eval:calls=1"), "{info}");
    assert!(info.contains("cmdstat_evalsha:calls=2"), "{info}");
}

#[test]
fn auth_and_select_are_sent_checked_and_stripped() {
    let redis = RedisServer::start(&["requirepass s3cret"]);
    let redis_cfg = json!({"port": redis.port, "password": "s3cret", "database": 3});
    let replies = run(
        redis_cfg.clone(),
        pipeline(vec![Command::new("SET").arg("a").arg("1")]),
    )
    .unwrap();
    assert_eq!(replies, vec![Reply::Status("OK".into())]);
    let in_db3 = run(redis_cfg, pipeline(vec![Command::new("DBSIZE")])).unwrap();
    assert_eq!(in_db3, vec![Reply::Int(1)]);
}

#[test]
fn acl_user_auth_works_and_a_wrong_password_is_wrongpass() {
    let redis = RedisServer::start(&["user kong on >pw ~* &* +@all"]);
    let ok = run(
        json!({"port": redis.port, "username": "kong", "password": "pw"}),
        pipeline(vec![Command::new("PING")]),
    );
    assert_eq!(ok.unwrap(), vec![Reply::Status("PONG".into())]);
    let bad = run(
        json!({"port": redis.port, "username": "kong", "password": "nope"}),
        pipeline(vec![Command::new("PING")]),
    );
    assert!(matches!(bad, Err(RedisError::Server(e)) if e.kind == ServerErrorKind::WrongPass));
}

#[test]
fn missing_password_reads_as_noauth_replies() {
    let redis = RedisServer::start(&["requirepass pw"]);
    let replies = run(
        json!({"port": redis.port}),
        pipeline(vec![Command::new("GET").arg("a")]),
    )
    .unwrap();
    assert_eq!(replies[0].error().unwrap().kind, ServerErrorKind::NoAuth);
}

#[test]
fn a_replica_answers_readonly_to_writes() {
    let master = RedisServer::start(&[]);
    let replica = RedisServer::start(&[&format!("replicaof 127.0.0.1 {}", master.port)]);
    let replies = run(
        json!({"port": replica.port}),
        pipeline(vec![Command::new("SET").arg("a").arg("1")]),
    )
    .unwrap();
    assert_eq!(replies[0].error().unwrap().kind, ServerErrorKind::ReadOnly);
}

#[test]
fn a_dead_node_is_a_transport_error_not_a_panic() {
    let port = e2e_tests::free_port();
    let outcome = run(json!({"port": port}), pipeline(vec![Command::new("PING")]));
    assert!(
        matches!(outcome, Err(RedisError::Transport(_))),
        "{outcome:?}"
    );
}
