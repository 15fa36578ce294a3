//! How long one request's guest entries take, without any networking:
//! `cargo run --profile native -p wasm-test-harness --example guest_cost -- FILTER.wasm [CONFIG]`.

use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
use proxy_wasm_host::abi::v0_2_1::{Host, LogContext, LogSink, PluginConfig, Started, VmServices};
use proxy_wasm_host::{Engine, Limits, Module};
use std::sync::Arc;
use std::time::Instant;
use wasm_test_harness::headers::Headers;
use wasm_test_harness::streams::{RequestState, Streams};

struct Quiet;
impl LogSink for Quiet {
    fn log(&self, _: LogContext<'_>, _: LogLevel, _: &[u8]) {}
}

fn main() {
    let path = std::env::args().nth(1).expect("path to a filter");
    let config = std::env::args().nth(2).unwrap_or_default();
    let engine = Engine::new().unwrap();
    let module = Module::new(&engine, &std::fs::read(path).unwrap()).unwrap();
    let host = Host::new(&engine).unwrap();
    let services = VmServices::new(Arc::new(Quiet))
        .with_shared(Arc::new(wasm_test_harness::shared::SharedStore::new()));
    let mut guest =
        proxy_wasm_host::abi::v0_2_1::Guest::new(&host, &module, services, &Limits::default())
            .unwrap();
    let Started::Serving(root) = guest
        .start(PluginConfig::new().with_configuration(config.into_bytes()))
        .unwrap()
    else {
        panic!()
    };
    let mut streams = Some(Streams::default());
    let n = 100_000;
    let started = Instant::now();
    for i in 0..n {
        let mut s = streams.take().unwrap();
        s.requests.insert(
            i,
            RequestState {
                request_headers: Headers::from_pairs([
                    (":path", "/trivial"),
                    (":method", "GET"),
                    ("host", "x"),
                ]),
                response_headers: Headers::from_pairs([(":status", "200")]),
                ..Default::default()
            },
        );
        let gid = guest.id();
        let (ctx, s) = guest.with(s, |sc| {
            let ctx = sc.on_context_create(Some(root)).unwrap();
            sc.stream_mut().contexts.insert((gid, ctx), i);
            sc.on_request_headers(ctx, 3, true).unwrap();
            ctx
        });
        let (_, s) = guest.with(s, |sc| {
            sc.on_response_headers(ctx, 1, false).unwrap();
            sc.on_response_body(ctx, 0, true).unwrap();
        });
        let (_, mut s) = guest.with(s, |sc| {
            sc.on_done(ctx).unwrap();
            sc.on_log(ctx).unwrap();
            sc.on_delete(ctx).unwrap();
        });
        s.requests.remove(&i);
        s.contexts.clear();
        let _ = guest.take_changes();
        streams = Some(s);
    }
    let per = started.elapsed() / n as u32;
    println!("{per:?} per request in the guest");
}
