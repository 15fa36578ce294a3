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
             Redis filters (rendering it for Envoy or Kong's engine: the redis-filters CLI)",
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

#[derive(Args, Debug)]
pub struct Echo {
    /// Address to listen on, e.g. 127.0.0.1:9000
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use redis_filters::args::missing_from_readme;

    #[test]
    fn readme_names_every_flag() {
        let missing = missing_from_readme(&Cli::command(), include_str!("../README.md"));
        assert!(missing.is_empty(), "README: {missing:?}");
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
