//! `wasm-test-harness serve|echo|render-envoy|render-nginx|credentials`: see `--help` and the
//! README. The flags are defined in `wasm_test_harness::cli`.

use clap::Parser;
use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
use std::process::ExitCode;
use wasm_test_harness::cli::{Cli, Command};
use wasm_test_harness::{EchoServer, Gateway, GatewayOptions, Profile};

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

/// The parsed flags as `(name, value)` pairs, a repeated flag once per value.
fn pairs(command: &Command) -> (&'static str, Vec<(String, String)>) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push((name.to_string(), v));
        }
    };
    let path = |p: &std::path::PathBuf| Some(p.display().to_string());
    let name = match command {
        Command::Serve(a) => {
            put("config", path(&a.config));
            put("filters-path", path(&a.filters_path));
            put("listen", Some(a.listen.clone()));
            put("profile", Some(a.profile.clone()));
            put("workers", Some(a.workers.to_string()));
            for t in &a.redis_tunnel {
                put("redis-tunnel", Some(t.clone()));
            }
            put("log-level", Some(a.log_level.clone()));
            put("redis-ca", a.redis_ca.as_ref().and_then(path));
            "serve"
        }
        Command::Echo(a) => {
            put("listen", Some(a.listen.clone()));
            "echo"
        }
        Command::RenderEnvoy(a) => {
            put("config", path(&a.config));
            put("filters-path", path(&a.filters_path));
            put("listen", Some(a.listen.clone()));
            put("admin", a.admin.clone());
            for r in &a.redis_allow {
                put("redis-allow", Some(r.clone()));
            }
            put("xff-trusted-hops", Some(a.xff_trusted_hops.to_string()));
            put("validate-with", a.validate_with.as_ref().and_then(path));
            put("redis-ca", a.redis_ca.as_ref().and_then(path));
            "render-envoy"
        }
        Command::RenderNginx(a) => {
            put("config", path(&a.config));
            put("filters-path", path(&a.filters_path));
            put("prefix", path(&a.prefix));
            put("bridge-lua", path(&a.bridge_lua));
            put("listen", Some(a.listen.clone()));
            put("workers", Some(a.workers.to_string()));
            for r in &a.redis_allow {
                put("redis-allow", Some(r.clone()));
            }
            put("redis-ca", a.redis_ca.as_ref().and_then(path));
            "render-nginx"
        }
        Command::Credentials(a) => {
            put("redis", Some(a.redis.clone()));
            put("password", a.password.clone());
            put("db", a.db.clone());
            put("prefix", Some(a.prefix.clone()));
            put("do", Some(a.action.clone()));
            put("key", a.key.clone());
            put("consumer-id", a.consumer_id.clone());
            put("username", a.username.clone());
            put("custom-id", a.custom_id.clone());
            put("algorithm", Some(a.algorithm.clone()));
            put("secret", a.secret.clone());
            put("public-key-file", a.public_key_file.as_ref().and_then(path));
            "credentials"
        }
    };
    (name, out)
}

fn run(cli: Cli) -> Result<(), String> {
    let (command, flags) = pairs(&cli.command);
    let get = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let redis_allow: Vec<String> = flags
        .iter()
        .filter(|(k, _)| k == "redis-allow")
        .map(|(_, v)| v.clone())
        .collect();
    match command {
        "credentials" => return credentials(&get),
        "render-envoy" => return render_envoy(&get, redis_allow),
        "render-nginx" => return render_nginx(&get, redis_allow),
        _ => {}
    }
    let listen = get("listen").ok_or("--listen is required")?;
    match command {
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
            opts.redis_ca = get("redis-ca").map(Into::into);
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

/// `--config` loaded, and `--filters-path` made absolute (the rendered configs name files),
/// after `filter_check`: every filter's `.wasm` is there and its config passes its parser.
fn config_and_filters(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<
    (
        wasm_test_harness::kong_config::KongConfig,
        std::path::PathBuf,
    ),
    String,
> {
    let config = wasm_test_harness::kong_config::KongConfig::load(std::path::Path::new(
        &get("config").ok_or("--config is required")?,
    ))?;
    let filters =
        std::path::PathBuf::from(get("filters-path").ok_or("--filters-path is required")?);
    let filters = std::fs::canonicalize(&filters).unwrap_or(filters);
    let problems = wasm_test_harness::filter_check::check(&config, &filters);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok((config, filters))
}

/// Prints the Envoy config (JSON, which Envoy also reads as YAML) equivalent to a kong.yml;
/// `redis_allow`: more RESP tunnel targets (`--redis-allow`, repeatable).
fn render_envoy(
    get: &dyn Fn(&str) -> Option<String>,
    redis_allow: Vec<String>,
) -> Result<(), String> {
    use wasm_test_harness::envoy_config::{render, split_addr, EnvoyOptions};
    let (config, filters) = config_and_filters(get)?;
    let listen = split_addr(&get("listen").unwrap_or_else(|| "127.0.0.1:8000".into()))?;
    let admin = get("admin").map(|a| split_addr(&a)).transpose()?;
    let xff_trusted_hops = match get("xff-trusted-hops") {
        Some(n) => n
            .parse()
            .map_err(|_| format!("--xff-trusted-hops {n:?} is not a number"))?,
        None => 0,
    };
    let rendered = render(
        &config,
        &EnvoyOptions {
            filters_path: &filters,
            listen,
            admin,
            redis_allow,
            xff_trusted_hops,
            redis_ca: get("redis-ca").map(Into::into),
        },
    )?;
    let text = serde_json::to_string_pretty(&rendered).map_err(|e| e.to_string())?;
    if let Some(envoy) = get("validate-with") {
        validate_with_envoy(&envoy, &text)?;
    }
    println!("{text}");
    Ok(())
}

/// Runs `envoy --mode validate` on the rendered config; its error lines on failure.
fn validate_with_envoy(envoy: &str, config: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("render-envoy-{}.json", std::process::id()));
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    let out = std::process::Command::new(envoy)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "error",
            "-c",
        ])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("--validate-with {envoy}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let errors: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("error") || l.contains("rror:"))
        .collect();
    Err(format!(
        "Envoy refuses the rendered config:\n{}",
        if errors.is_empty() { said.trim() } else { "" }.to_string() + &errors.join("\n")
    ))
}

/// Writes the two nginx configs that run a kong.yml in Kong's engine without Kong (see
/// `nginx_config`).
fn render_nginx(
    get: &dyn Fn(&str) -> Option<String>,
    redis_allow: Vec<String>,
) -> Result<(), String> {
    use std::path::PathBuf;
    use wasm_test_harness::envoy_config::split_addr;
    use wasm_test_harness::nginx_config::{render, NginxOptions};
    let (config, filters) = config_and_filters(get)?;
    let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let prefix = PathBuf::from(get("prefix").ok_or("--prefix is required")?);
    std::fs::create_dir_all(prefix.join("logs"))
        .map_err(|e| format!("--prefix {}: {e}", prefix.display()))?;
    let prefix = absolute(prefix);
    let lua = absolute(PathBuf::from(
        get("bridge-lua").unwrap_or_else(|| "kong".into()),
    ));
    if !lua.join("redis_bridge.lua").exists() {
        return Err(format!(
            "--bridge-lua {}: no redis_bridge.lua there (the repository's kong/)",
            lua.display()
        ));
    }
    let redis_ca = get("redis-ca").map(|p| absolute(PathBuf::from(p)));
    let workers = match get("workers") {
        Some(w) => w
            .parse()
            .map_err(|_| format!("--workers {w:?} is not a number"))?,
        None => 2,
    };
    let socket = prefix.join("bridge.sock");
    let rendered = render(
        &config,
        &NginxOptions {
            filters_path: &filters,
            listen: split_addr(&get("listen").unwrap_or_else(|| "127.0.0.1:8000".into()))?,
            workers,
            prefix: &prefix,
            bridge_socket: &socket,
            bridge_lua_dir: &lua,
            redis_allow,
            user_root: wasm_test_harness::nginx_config::running_as_root(),
            redis_ca: redis_ca.as_deref(),
        },
    )?;
    for (name, text) in [
        ("nginx.conf", &rendered.wasm),
        ("bridge.conf", &rendered.bridge),
    ] {
        let path = prefix.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{}", path.display());
    }
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

fn credentials(get: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    use serde_json::json;
    use wasm_test_harness::credentials::{self, Action, Redis};
    let addr = get("redis").ok_or("--redis HOST:PORT is required")?;
    let prefix = get("prefix").unwrap_or_else(|| credentials::DEFAULT_PREFIX.to_string());
    let action = get("do").ok_or("--do put|rotate|retire|delete|list is required")?;
    let key = get("key").unwrap_or_default();
    if action != "list" && key.is_empty() {
        return Err(format!("--do {action} needs --key"));
    }
    let secret = || -> Result<serde_json::Value, String> {
        let algorithm = get("algorithm").unwrap_or_else(|| "HS256".into());
        let mut secret = json!({ "algorithm": algorithm });
        match (get("secret"), get("public-key-file")) {
            (Some(s), None) => secret["secret"] = json!(s),
            (None, Some(file)) => {
                let pem = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
                secret["rsa_public_key"] = json!(pem);
            }
            _ => return Err("give one of --secret or --public-key-file".into()),
        }
        Ok(secret)
    };
    let action = match action.as_str() {
        "put" => {
            let id = get("consumer-id").ok_or("--do put needs --consumer-id")?;
            let mut consumer = json!({ "id": id });
            if let Some(u) = get("username") {
                consumer["username"] = json!(u);
            }
            if let Some(c) = get("custom-id") {
                consumer["custom_id"] = json!(c);
            }
            Action::Put {
                consumer,
                secret: secret()?,
            }
        }
        "rotate" => Action::Rotate { secret: secret()? },
        "retire" => Action::Retire,
        "delete" => Action::Delete,
        "list" => Action::List,
        other => return Err(format!("unknown --do {other:?}")),
    };
    let mut redis = Redis::connect(&addr, get("password").as_deref(), get("db").as_deref())?;
    println!("{}", credentials::run(&mut redis, &prefix, &key, action)?);
    Ok(())
}
