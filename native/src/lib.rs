//! The filters as one Envoy dynamic module (`libredis_filters.so`, issue 33). This first step
//! loads in Envoy 1.40, takes each filter's config by its Kong name (`filter_name`) with the Wasm
//! filter's JSON (`filter_config`, a `StringValue`), refuses a bad one naming the field, and lets
//! requests through; the filters' request logic is not wired to it yet. `abi` holds our ABI
//! declarations, `hooks` the functions Envoy calls, `config` the check of a config.

pub mod abi;
pub mod config;
pub mod hooks;
