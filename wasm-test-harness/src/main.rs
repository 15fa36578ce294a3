//! `wasm-test-harness serve|echo`: see `--help` and the README. The flags are defined in
//! `wasm_test_harness::cli`. Rendering and credentials are the `redis-filters` CLI's (`cli/`).

use clap::Parser;
use std::process::ExitCode;
use wasm_test_harness::cli::{self, Cli, Command};
use wasm_test_harness::{EchoServer, Gateway, GatewayOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-test-harness: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Echo(a) => {
            let server = EchoServer::start(&a.listen)?;
            println!("echo listening on {}", server.addr);
            wait_for_signal();
            server.stop();
            Ok(())
        }
    }
}

fn serve(a: cli::Serve) -> Result<(), String> {
    let mut opts = GatewayOptions::new(a.config, a.filters_path);
    opts.listen = a.listen;
    opts.profile = a.profile;
    opts.workers = a.workers;
    if !a.redis_tunnel.is_empty() {
        opts.redis_tunnels = a.redis_tunnel;
    }
    opts.redis_ca = a.redis_ca;
    opts.log_level = a.log_level.into();
    let gateway = Gateway::start(opts)?;
    println!("listening on {}", gateway.addr);
    wait_for_signal();
    gateway.stop();
    Ok(())
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}
