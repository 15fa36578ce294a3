//! `wasm-test-harness serve|echo`: see the README.

use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
use std::process::ExitCode;
use wasm_test_harness::{EchoServer, Gateway, GatewayOptions, Profile};

const USAGE: &str = "usage:
  wasm-test-harness serve --config kong.yml --filters-path DIR --listen ADDR
                          [--profile kong|envoy] [--workers N] [--redis-tunnel NAME ...]
                          [--log-level trace|debug|info|warn|error]
  wasm-test-harness echo --listen ADDR
  wasm-test-harness render-envoy --config kong.yml --filters-path DIR [--listen ADDR] [--admin ADDR]
                                 [--redis-allow HOST:PORT|HOST:* ...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-test-harness: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        flags.push((name.to_string(), value.clone()));
    }
    let get = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let known: &[&str] = match command.as_str() {
        "serve" => &[
            "config",
            "filters-path",
            "listen",
            "profile",
            "workers",
            "redis-tunnel",
            "log-level",
        ],
        "echo" => &["listen"],
        "render-envoy" => &["config", "filters-path", "listen", "admin", "redis-allow"],
        _ => return Err(USAGE.into()),
    };
    if let Some((bad, _)) = flags.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(format!("unknown option --{bad}\n{USAGE}"));
    }
    if command == "render-envoy" {
        let redis_allow = flags
            .iter()
            .filter(|(k, _)| k == "redis-allow")
            .map(|(_, v)| v.clone())
            .collect();
        return render_envoy(&get, redis_allow);
    }
    let listen = get("listen").ok_or("--listen is required")?;
    match command.as_str() {
        "echo" => {
            let server = EchoServer::start(&listen)?;
            println!("echo listening on {}", server.addr);
            wait_for_signal();
            server.stop();
        }
        _ => {
            let config = get("config").ok_or("--config is required")?;
            let filters = get("filters-path").ok_or("--filters-path is required")?;
            let mut opts = GatewayOptions::new(config, filters);
            opts.listen = listen;
            if let Some(p) = get("profile") {
                opts.profile = p.parse::<Profile>()?;
            }
            if let Some(w) = get("workers") {
                opts.workers = w
                    .parse()
                    .map_err(|_| format!("--workers {w:?} is not a number"))?;
            }
            let tunnels: Vec<String> = flags
                .iter()
                .filter(|(k, _)| k == "redis-tunnel")
                .map(|(_, v)| v.clone())
                .collect();
            if !tunnels.is_empty() {
                opts.redis_tunnels = tunnels;
            }
            if let Some(l) = get("log-level") {
                opts.log_level = match l.as_str() {
                    "trace" => LogLevel::Trace,
                    "debug" => LogLevel::Debug,
                    "info" => LogLevel::Info,
                    "warn" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    other => return Err(format!("unknown log level {other:?}")),
                };
            }
            let gateway = Gateway::start(opts)?;
            println!("listening on {}", gateway.addr);
            wait_for_signal();
            gateway.stop();
        }
    }
    Ok(())
}

/// Prints the Envoy config (JSON, which Envoy also reads as YAML) equivalent to a kong.yml;
/// `redis_allow`: more RESP tunnel targets (`--redis-allow`, repeatable).
fn render_envoy(
    get: &dyn Fn(&str) -> Option<String>,
    redis_allow: Vec<String>,
) -> Result<(), String> {
    use wasm_test_harness::envoy_config::{render, split_addr, EnvoyOptions};
    let config = wasm_test_harness::kong_config::KongConfig::load(std::path::Path::new(
        &get("config").ok_or("--config is required")?,
    ))?;
    let filters =
        std::path::PathBuf::from(get("filters-path").ok_or("--filters-path is required")?);
    let filters = std::fs::canonicalize(&filters).unwrap_or(filters);
    let listen = split_addr(&get("listen").unwrap_or_else(|| "0.0.0.0:8000".into()))?;
    let admin = get("admin").map(|a| split_addr(&a)).transpose()?;
    let rendered = render(
        &config,
        &EnvoyOptions {
            filters_path: &filters,
            listen,
            admin,
            redis_allow,
        },
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&rendered).map_err(|e| e.to_string())?
    );
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
