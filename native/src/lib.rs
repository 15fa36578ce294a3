//! The filters as one Envoy dynamic module (`libredis_filters.so`, issue 33): the Wasm build's
//! filters, registry and Redis multiplexer, run natively over a host adapter.
//! - `hooks`: the functions Envoy calls, each a thin entry into the filters' runtime;
//! - `proxy_host`: the host functions the runtime calls, over Envoy's callbacks (`envoy`,
//!   declared in `abi`);
//! - `direct`: the module's own pooled connections to Redis, on a thread of its own, whose
//!   answers reach each worker through its `mailbox` and a stream's scheduler;
//! - `carried`: on the tunnel path, a stream carrying calls for others does not end before
//!   their answers;
//! - `worker`: what one worker thread knows (its contexts, roots, callouts); `roots`: each
//!   config's root on a worker and its ticks;
//! - `timer`, `wakes`: a thread of the module's own wakes a worker whose requests wait on
//!   Redis, so its roots tick without responses; `scheduler`: a stream's (or config's)
//!   scheduler, the way the module's threads reach a worker (or the main thread); `idle`: an
//!   idle worker's periodic work, handed to the config's root on the main thread;
//! - `shared_memory`: the filters' shared data in process memory; `metrics`: their counters as
//!   Envoy counters; `config`: a config checked by the filter's own parser.

pub mod abi;
mod carried;
pub mod config;
mod direct;
mod envoy;
pub mod hooks;
mod idle;
mod mailbox;
mod metrics;
mod proxy_host;
mod roots;
mod scheduler;
mod shared_memory;
mod timer;
mod wakes;
mod worker;
