//! The command line (clap): every subcommand, its flags and their help, parsed into the typed
//! structs `main` hands to each subcommand; the README's usage is checked against these
//! definitions (`readme_names_every_flag`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wasm-test-harness",
    version,
    about = "A native proxy-wasm host (wasmtime) that serves Kong's declarative kong.yml with the \
             Redis filters, and renders the same kong.yml for Envoy and for Kong's engine",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve a kong.yml: its routes, services and filter chains, Redis reached through the
    /// RESP tunnel served natively
    Serve(Serve),
    /// An echo upstream: every request comes back as JSON (method, path, headers, body)
    Echo(Echo),
    /// Print the Envoy config (JSON) that runs a kong.yml with the same filters
    RenderEnvoy(RenderEnvoy),
    /// Write nginx.conf (Kong's engine, ngx_wasm_module) and bridge.conf (the RESP bridge,
    /// nginx with the Lua module) that run a kong.yml without Kong
    RenderNginx(RenderNginx),
    /// Put, rotate, retire, list or delete redis-jwt's credentials in Redis
    Credentials(Credentials),
}

#[derive(Args, Debug)]
pub struct Serve {
    /// The declarative config (Kong's kong.yml, _format_version 3.0)
    #[arg(long, value_name = "KONG_YML")]
    pub config: PathBuf,
    /// Where the filters' .wasm files are (dist/ after scripts/build-wasm.sh)
    #[arg(long, value_name = "DIR")]
    pub filters_path: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8000
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Which host to behave as: Kong's engine (ngx_wasm_module) or Envoy
    #[arg(long, value_enum, default_value_t = crate::Profile::Kong)]
    pub profile: crate::Profile,
    /// Worker threads, each with its own filter instances
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,
    /// Upstream names served as RESP tunnels (repeatable; default redis_tunnel)
    #[arg(long, value_name = "NAME")]
    pub redis_tunnel: Vec<String>,
    /// Lowest level of the filters' logs that is printed
    #[arg(long, value_enum, default_value_t = LogLevelArg::Info)]
    pub log_level: LogLevelArg,
    /// CA bundle (PEM) Redis' certificates are checked against with ssl_verify (default: the
    /// system's)
    #[arg(long, value_name = "PEM")]
    pub redis_ca: Option<PathBuf>,
}

/// `serve --log-level`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevelArg {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<LogLevelArg> for proxy_wasm_host::abi::v0_2_1::types::LogLevel {
    fn from(l: LogLevelArg) -> Self {
        use proxy_wasm_host::abi::v0_2_1::types::LogLevel;
        match l {
            LogLevelArg::Trace => LogLevel::Trace,
            LogLevelArg::Debug => LogLevel::Debug,
            LogLevelArg::Info => LogLevel::Info,
            LogLevelArg::Warn => LogLevel::Warn,
            LogLevelArg::Error => LogLevel::Error,
        }
    }
}

/// `credentials --do`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialAction {
    Put,
    Rotate,
    Retire,
    Delete,
    List,
}

#[derive(Args, Debug)]
pub struct Echo {
    /// Address to listen on, e.g. 127.0.0.1:9000
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
}

#[derive(Args, Debug)]
pub struct RenderEnvoy {
    /// The declarative config (kong.yml)
    #[arg(long, value_name = "KONG_YML")]
    pub config: PathBuf,
    /// Where the filters' .wasm files are (the rendered config names them)
    #[arg(long, value_name = "DIR")]
    pub filters_path: PathBuf,
    /// Envoy's listener
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Envoy's admin listener (none by default)
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// More Redis nodes the tunnel may reach: HOST:PORT, or HOST:* for any port (repeatable)
    #[arg(long, value_name = "HOST:PORT|HOST:*")]
    pub redis_allow: Vec<String>,
    /// Proxies in front of Envoy whose X-Forwarded-For entry is trusted
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub xff_trusted_hops: u32,
    /// Check the rendered config with this Envoy binary (envoy --mode validate)
    #[arg(long, value_name = "ENVOY_BINARY")]
    pub validate_with: Option<PathBuf>,
    /// CA bundle (PEM) for ssl_verify (default: the system's)
    #[arg(long, value_name = "PEM")]
    pub redis_ca: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RenderNginx {
    /// The declarative config (kong.yml)
    #[arg(long, value_name = "KONG_YML")]
    pub config: PathBuf,
    /// Where the filters' .wasm files are
    #[arg(long, value_name = "DIR")]
    pub filters_path: PathBuf,
    /// Directory for nginx.conf, bridge.conf, logs and the bridge's socket
    #[arg(long, value_name = "DIR")]
    pub prefix: PathBuf,
    /// Directory of redis_bridge.lua (the repository's kong/)
    #[arg(long, value_name = "DIR", default_value = "kong")]
    pub bridge_lua: PathBuf,
    /// The engine's listener
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// The engine's worker processes
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,
    /// More Redis nodes the bridge may reach: HOST:PORT, or HOST:* (repeatable)
    #[arg(long, value_name = "HOST:PORT|HOST:*")]
    pub redis_allow: Vec<String>,
    /// CA bundle (PEM) the bridge checks Redis' certificates against (lua_ssl_trusted_certificate)
    #[arg(long, value_name = "PEM")]
    pub redis_ca: Option<PathBuf>,
    /// Keep consecutive filters of ours that wait on Redis apart (by default each such run
    /// becomes one redis-chain)
    #[arg(long)]
    pub keep_filters_apart: bool,
}

#[derive(Args, Debug)]
pub struct Credentials {
    /// The Redis node, HOST:PORT (on a Cluster any node: MOVED is followed)
    #[arg(long, value_name = "HOST:PORT")]
    pub redis: String,
    /// Redis password (AUTH)
    #[arg(long)]
    pub password: Option<String>,
    /// Redis database (SELECT)
    #[arg(long, value_name = "N")]
    pub db: Option<String>,
    /// The filter's credential_prefix
    #[arg(long, default_value = "redis_jwt:credential:")]
    pub prefix: String,
    /// What to do
    #[arg(long = "do", value_enum)]
    pub action: CredentialAction,
    /// The credential's key (the token's iss, or key_claim_name's value)
    #[arg(long)]
    pub key: Option<String>,
    /// The consumer's id (put)
    #[arg(long, value_name = "ID")]
    pub consumer_id: Option<String>,
    /// The consumer's username (put)
    #[arg(long)]
    pub username: Option<String>,
    /// The consumer's custom_id (put)
    #[arg(long)]
    pub custom_id: Option<String>,
    /// The credential's algorithm
    #[arg(long, default_value = "HS256")]
    pub algorithm: String,
    /// The HS* secret
    #[arg(long)]
    pub secret: Option<String>,
    /// A PEM file with the public key (RS*, PS*, ES*, EdDSA)
    #[arg(long, value_name = "PEM")]
    pub public_key_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn readme_names_every_flag() {
        let readme = include_str!("../README.md");
        for sub in Cli::command().get_subcommands() {
            assert!(
                readme.contains(sub.get_name()),
                "README: subcommand {}",
                sub.get_name()
            );
            for arg in sub.get_arguments() {
                if let Some(long) = arg.get_long() {
                    if long == "help" {
                        continue;
                    }
                    let flag = format!("--{long}");
                    assert!(readme.contains(&flag), "README: {} {flag}", sub.get_name());
                }
            }
        }
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_mistyped_flag_is_named() {
        let e = Cli::try_parse_from(["wasm-test-harness", "serve", "--listn", "x"]).unwrap_err();
        assert!(e.to_string().contains("--listn"), "{e}");
    }
}
