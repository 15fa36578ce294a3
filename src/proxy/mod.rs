//! The guest side of the proxy-wasm ABI 0.2.1, written for these filters: the SDK routes a call's
//! answer to the context that dispatched it and drops it if that request has gone, while a
//! batched call carries many requests' commands and its answer must reach all of them. So the
//! answer is routed by token to the root context's Redis client instead.

pub mod abi;
pub mod context;
pub mod exports;
pub mod feature;
#[cfg(feature = "higress")]
mod higress_transport;
mod host_shared_data;
mod memory_gauge;
pub mod pairs;
pub mod redis;
mod redis_transport;
pub mod respond;
mod root_config;
mod runtime;
pub mod step;
mod sys;
#[cfg(not(feature = "higress"))]
mod tunnel_transport;
mod wasm_filter_host;

pub use context::{Action, HttpContext, RootContext};
pub use exports::EXPORTED_CALLBACKS;
pub use feature::{build_any, AnyFeature, BuildAny, Feature, FeatureRoot};
pub use host_shared_data::HostSharedData;
pub use redis::{RedisClient, SharedClient};
pub use runtime::{
    affinity, current_context, hand_over, hold_calls, holds_work, root_waits, root_works,
    set_root_factory, set_tag_base, take_over, HeldCalls, RootFactory, TAG_SHIFT,
};
pub use step::Step;
#[cfg(not(target_arch = "wasm32"))]
pub use sys::{install as install_native_host, NativeHost};
pub use wasm_filter_host::WasmFilterHost;

/// Sets the root context factory, the filter's name for its memory gauge (`memory_gauge`) and a
/// panic hook that logs through the host before the VM dies (a panic is a bug: filters return
/// errors as values).
pub fn install(crate_name: &'static str, factory: RootFactory) {
    memory_gauge::name(crate_name);
    std::panic::set_hook(Box::new(|info| {
        abi::log(abi::LogLevel::Critical, &format!("filter panicked: {info}"));
    }));
    set_root_factory(factory);
}

/// Defines the module's `_initialize` export, which runs static constructors and installs the
/// filter's root context factory. Unmangled only in the Wasm build: natively every filter crate
/// would define the same symbol, and a binary linking several of them (the harness' tests) fails
/// to link whenever two of those objects are pulled in.
#[macro_export]
macro_rules! filter_main {
    ($factory:expr) => {
        #[cfg(target_os = "wasi")]
        extern "C" {
            fn __wasm_call_ctors();
        }

        #[cfg_attr(target_arch = "wasm32", no_mangle)]
        pub extern "C" fn _initialize() {
            #[cfg(target_os = "wasi")]
            // SAFETY: called once by the host before any other export, as wasi reactors expect.
            unsafe {
                __wasm_call_ctors();
            }
            $crate::proxy::install(env!("CARGO_PKG_NAME"), $factory);
        }
    };
}
