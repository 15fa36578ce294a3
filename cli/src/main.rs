//! `redis-filters check|render-envoy|render-nginx|credentials`: see `--help` and the README. The
//! flags are defined in `redis_filters::args`.

use clap::{Parser, ValueEnum};
use redis_filters::args::{self, Command, CredentialAction};
use redis_filters::filter_check;
use redis_filters::kong_config::KongConfig;
use redis_filters::split_addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let outcome = match Command::parse() {
        Command::Check(a) => return check(a),
        Command::RenderEnvoy(a) => render_envoy(a),
        Command::RenderNginx(a) => render_nginx(a),
        Command::Credentials(a) => credentials(a),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis-filters: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints every problem of the kong.yml's filter configs (and missing `.wasm` files with
/// `--filters-path`), one a line on stderr: exits 1 when there is one, 2 when the kong.yml
/// cannot be read, else says what it checked.
fn check(a: args::Check) -> ExitCode {
    let config = match KongConfig::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redis-filters: {e}");
            return ExitCode::from(2);
        }
    };
    let problems = filter_check::check(&config, a.filters_path.as_deref());
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        eprintln!("{}: {} problem(s)", a.config.display(), problems.len());
        return ExitCode::from(1);
    }
    let (ours, others): (Vec<_>, Vec<_>) =
        filter_check::filters(&config).partition(|f| filter_check::parser(&f.name).is_some());
    let mut said = format!(
        "{}: {} filter config(s) of this project pass their parsers",
        a.config.display(),
        ours.len()
    );
    if !others.is_empty() {
        said.push_str(&format!(
            "; {} filter(s) of others not checked",
            others.len()
        ));
    }
    println!("{said}");
    ExitCode::SUCCESS
}

/// `--config` loaded, and `--filters-path` made absolute (the rendered configs name files),
/// after `filter_check`: every filter's `.wasm` is there and its config passes its parser.
fn config_and_filters(config: &Path, filters: PathBuf) -> Result<(KongConfig, PathBuf), String> {
    config_and_build(config, filters, false)
}

/// `config_and_filters`, this project's filters looked for as the dynamic module when `native`.
fn config_and_build(
    config: &Path,
    filters: PathBuf,
    native: bool,
) -> Result<(KongConfig, PathBuf), String> {
    let config = KongConfig::load(config)?;
    let filters = absolute(filters);
    let problems = filter_check::check_build(&config, Some(&filters), native);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok((config, filters))
}

fn absolute(p: PathBuf) -> PathBuf {
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// Prints the Envoy config (JSON, which Envoy also reads as YAML) equivalent to a kong.yml.
fn render_envoy(a: args::RenderEnvoy) -> Result<(), String> {
    use redis_filters::envoy_config::{render, EnvoyOptions};
    let (config, filters) = config_and_build(&a.config, a.filters_path, a.native)?;
    if let (true, Some(ca)) = (a.native, &a.redis_ca) {
        // The module reaches Redis over its own connections, not through the rendered tunnel.
        eprintln!(
            "note: the dynamic module checks Redis' certificates against the CA bundle in its \
             environment: run Envoy with REDIS_FILTERS_REDIS_CA={}",
            ca.display()
        );
    }
    let rendered = render(
        &config,
        &EnvoyOptions {
            filters_path: &filters,
            listen: split_addr(&a.listen)?,
            admin: a.admin.as_deref().map(split_addr).transpose()?,
            redis_allow: a.redis_allow,
            xff_trusted_hops: a.xff_trusted_hops,
            redis_ca: a.redis_ca,
            native: a.native,
        },
    )?;
    let text = serde_json::to_string_pretty(&rendered).map_err(|e| e.to_string())?;
    if let Some(envoy) = &a.validate_with {
        validate_with_envoy(envoy, &text)?;
    }
    println!("{text}");
    Ok(())
}

/// Runs `envoy --mode validate` on the rendered config; its error lines on failure.
fn validate_with_envoy(envoy: &Path, config: &str) -> Result<(), String> {
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
    let out = out.map_err(|e| format!("--validate-with {}: {e}", envoy.display()))?;
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
fn render_nginx(a: args::RenderNginx) -> Result<(), String> {
    use redis_filters::nginx_config::{render, running_as_root, NginxOptions};
    let (config, filters) = config_and_filters(&a.config, a.filters_path)?;
    std::fs::create_dir_all(a.prefix.join("logs"))
        .map_err(|e| format!("--prefix {}: {e}", a.prefix.display()))?;
    let prefix = absolute(a.prefix);
    let lua = absolute(a.bridge_lua);
    if !lua.join("redis_bridge.lua").exists() {
        return Err(format!(
            "--bridge-lua {}: no redis_bridge.lua there (the repository's kong/)",
            lua.display()
        ));
    }
    let redis_ca = a.redis_ca.map(absolute);
    let socket = prefix.join("bridge.sock");
    let rendered = render(
        &config,
        &NginxOptions {
            filters_path: &filters,
            listen: split_addr(&a.listen)?,
            workers: a.workers,
            prefix: &prefix,
            bridge_socket: &socket,
            bridge_lua_dir: &lua,
            redis_allow: a.redis_allow,
            user_root: running_as_root(),
            redis_ca: redis_ca.as_deref(),
            keep_apart: a.keep_filters_apart,
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
    for note in &rendered.notes {
        eprintln!("render-nginx: {note}");
    }
    Ok(())
}

fn credentials(a: args::Credentials) -> Result<(), String> {
    use redis_filters::credentials::{self, Action, Redis};
    use redis_filters::set_field;
    use serde_json::json;
    let key = a.key.unwrap_or_default();
    if a.action != CredentialAction::List && key.is_empty() {
        let name = a
            .action
            .to_possible_value()
            .map(|v| v.get_name().to_string());
        return Err(format!("--do {} needs --key", name.unwrap_or_default()));
    }
    let secret = || -> Result<serde_json::Value, String> {
        let mut secret = json!({ "algorithm": a.algorithm });
        match (&a.secret, &a.public_key_file) {
            (Some(s), None) => set_field(&mut secret, "secret", json!(s)),
            (None, Some(file)) => {
                let pem = std::fs::read_to_string(file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                set_field(&mut secret, "rsa_public_key", json!(pem));
            }
            _ => return Err("give one of --secret or --public-key-file".into()),
        }
        Ok(secret)
    };
    let action = match a.action {
        CredentialAction::Put => {
            let id = a
                .consumer_id
                .as_ref()
                .ok_or("--do put needs --consumer-id")?;
            let mut consumer = json!({ "id": id });
            if let Some(u) = &a.username {
                set_field(&mut consumer, "username", json!(u));
            }
            if let Some(c) = &a.custom_id {
                set_field(&mut consumer, "custom_id", json!(c));
            }
            Action::Put {
                consumer,
                secret: secret()?,
            }
        }
        CredentialAction::Rotate => Action::Rotate { secret: secret()? },
        CredentialAction::Retire => Action::Retire,
        CredentialAction::Delete => Action::Delete,
        CredentialAction::List => Action::List,
    };
    let mut redis = Redis::connect(&a.redis, a.password.as_deref(), a.db.as_deref())?;
    println!("{}", credentials::run(&mut redis, &a.prefix, &key, action)?);
    Ok(())
}
