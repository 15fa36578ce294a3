//! The command line (clap): every subcommand, its flags and their help, parsed into the typed
//! structs `main` hands to each subcommand; the README's usage is checked against these
//! definitions (`missing_from_readme`).

use clap::{Args, Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "redis-filters",
    version,
    about = "The Redis filters' operator tool: checks a kong.yml's filter configs, renders it for \
             Envoy and for Kong's engine, manages redis-jwt's credentials in Redis",
    arg_required_else_help = true
)]
pub enum Command {
    /// Check every filter config of a kong.yml with that filter's own parser; each problem is
    /// printed with the filter's path in the file
    Check(Check),
    /// Print the Envoy config (JSON) that runs a kong.yml with the same filters
    RenderEnvoy(RenderEnvoy),
    /// Write nginx.conf (Kong's engine, ngx_wasm_module) and bridge.conf (the RESP bridge,
    /// nginx with the Lua module) that run a kong.yml without Kong
    RenderNginx(RenderNginx),
    /// Put, rotate, retire, list or delete redis-jwt's credentials in Redis
    Credentials(Credentials),
}

#[derive(Args, Debug)]
pub struct Check {
    /// The declarative config (kong.yml)
    #[arg(long, value_name = "KONG_YML")]
    pub config: PathBuf,
    /// Also check that every filter a chain names has its .wasm there
    #[arg(long, value_name = "DIR")]
    pub filters_path: Option<PathBuf>,
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
pub struct RenderEnvoy {
    /// The declarative config (kong.yml)
    #[arg(long, value_name = "KONG_YML")]
    pub config: PathBuf,
    /// Where the filters' .wasm files are (the rendered config names them); with --native,
    /// where libredis_filters.so is (give Envoy the same directory as
    /// ENVOY_DYNAMIC_MODULES_SEARCH_PATH)
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
    /// Load the filters as the Envoy dynamic module (libredis_filters.so, found through
    /// ENVOY_DYNAMIC_MODULES_SEARCH_PATH) instead of their .wasm files
    #[arg(long)]
    pub native: bool,
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

/// The subcommands of a command line, and the long flags of each, that a README's text does not
/// name: the tests of this CLI and of the harness check their READMEs with it.
pub fn missing_from_readme(command: &clap::Command, readme: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for sub in command.get_subcommands() {
        if !readme.contains(sub.get_name()) {
            missing.push(sub.get_name().to_string());
        }
        let flags = sub.get_arguments().filter_map(|a| a.get_long());
        for flag in flags.filter(|l| *l != "help").map(|l| format!("--{l}")) {
            if !readme.contains(&flag) {
                missing.push(format!("{} {flag}", sub.get_name()));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_hold_together_and_the_readme_names_every_flag() {
        let command = Command::command();
        command.clone().debug_assert();
        let missing = missing_from_readme(&command, include_str!("../README.md"));
        assert!(missing.is_empty(), "README: {missing:?}");
        let none = missing_from_readme(&command, "render-envoy --config");
        assert!(none.contains(&"check".to_string()), "{none:?}");
        assert!(
            none.contains(&"render-envoy --listen".to_string()),
            "{none:?}"
        );
        assert!(
            !none.contains(&"render-envoy --config".to_string()),
            "{none:?}"
        );
    }

    #[test]
    fn a_mistyped_flag_or_a_missing_one_is_named() {
        let mistyped = Command::try_parse_from(["redis-filters", "check", "--confg", "x"]);
        assert!(mistyped.unwrap_err().to_string().contains("--confg"));
        let missing = Command::try_parse_from(["redis-filters", "render-nginx", "--config", "k"]);
        assert!(missing.unwrap_err().to_string().contains("--filters-path"));
    }
}
