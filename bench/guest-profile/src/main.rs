//! Runs a filter's requests in wasmtime against a minimal host in this process, so `perf` sees
//! only the guest and the host functions it calls (no HTTP, no sockets, no other threads), with
//! the guest's own function names when the module has a name section and `--perfmap` is given.
//! A benchmark tool (`bench/guest-profile.sh`), not a proxy-wasm host: its host functions answer
//! just enough for a request to take its usual path: the client address as `source.address`,
//! shared data with compare-and-swap, the clock, and a Redis answer of `*1 :0` to each command
//! of a tunnel call (what rate limiting's script returns for one period).

mod host;

use clap::Parser;
use host::{Host, State};
use std::time::Instant;
use wasmtime::{Config, Engine, Module, ProfilingStrategy, Store};

#[derive(Parser)]
#[command(about = "Runs one filter's requests in wasmtime, for perf")]
struct Args {
    /// The filter module (a build with a name section gives perf the guest's function names)
    wasm: std::path::PathBuf,
    /// The filter's configuration (JSON)
    #[arg(long, default_value = "{}")]
    config: String,
    /// Requests to run
    #[arg(long, default_value_t = 200_000)]
    requests: u32,
    /// Requests whose headers arrive before the host answers any Redis call (the calls that
    /// wait meanwhile are batched by the filter's multiplexer, as under concurrent load)
    #[arg(long, default_value_t = 16)]
    concurrency: u32,
    /// Writes /tmp/perf-<pid>.map, so `perf report` names the guest's functions
    #[arg(long)]
    perfmap: bool,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let mut config = Config::new();
    if args.perfmap {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).map_err(|e| e.to_string())?;
    let module = Module::from_file(&engine, &args.wasm).map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine, State::new(args.config.into_bytes()));
    let mut host = Host::new(&mut store, &module).map_err(|e| e.to_string())?;
    host.start(&mut store).map_err(|e| e.to_string())?;
    // Warm-up, then the measured run.
    run(&mut host, &mut store, args.requests / 10, args.concurrency)?;
    store.data_mut().calls.clear();
    let started = Instant::now();
    run(&mut host, &mut store, args.requests, args.concurrency)?;
    let elapsed = started.elapsed();
    let n = f64::from(args.requests.max(1));
    println!(
        "{} requests in {:.2} s: {:.2} us per request in the guest and this host",
        args.requests,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / n
    );
    let calls: Vec<String> = store
        .data()
        .calls
        .iter()
        .map(|(name, count)| format!("{name} {:.2}", *count as f64 / n))
        .collect();
    println!("per request: {}", calls.join(", "));
    Ok(())
}

/// `requests` requests, `concurrency` at a time: every one's headers, then the Redis calls
/// answered until none is left, then every one's response and end.
fn run(
    host: &mut Host,
    store: &mut Store<State>,
    requests: u32,
    concurrency: u32,
) -> Result<(), String> {
    let mut done = 0;
    while done < requests {
        let batch = concurrency.clamp(1, requests - done);
        let ids: Vec<u32> = (0..batch)
            .map(|_| store.data_mut().next_context())
            .collect();
        for &id in &ids {
            host.request_headers(store, id).map_err(|e| e.to_string())?;
        }
        while host.answer_call(store).map_err(|e| e.to_string())? {}
        for &id in &ids {
            host.finish(store, id).map_err(|e| e.to_string())?;
        }
        done += batch;
    }
    Ok(())
}
