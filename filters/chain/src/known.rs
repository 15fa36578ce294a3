//! The filters a chain may run, by their Kong filter names: each one's config parser (for
//! `render-nginx` and `render-envoy`, which check configs before writing them), its builder, and
//! its root alone (the Envoy dynamic module runs each filter by itself too).

use redis_filter_core::proxy::{build_any, BuildAny, Feature, FeatureRoot, RootContext};

/// A filter a chain may run.
pub struct Known {
    pub name: &'static str,
    /// Its own config parser: the config's JSON in, the refusal out.
    pub check: fn(&[u8]) -> Result<(), String>,
    pub build: BuildAny,
    /// Its root context when it runs alone (as its own Wasm module does).
    pub root: fn(u32) -> Box<dyn RootContext>,
}

/// The root context of feature `F` running alone.
fn alone<F: Feature>(id: u32) -> Box<dyn RootContext> {
    Box::new(FeatureRoot::<F>::new(id))
}

/// Every filter a chain may run.
pub const KNOWN: &[Known] = &[
    Known {
        name: "redis-rate-limiting",
        check: |raw| parsed(redis_rate_limiting::config::Config::parse(raw)),
        build: build_any::<redis_rate_limiting::Filter>,
        root: alone::<redis_rate_limiting::Filter>,
    },
    Known {
        name: "redis-proxy-cache",
        check: |raw| parsed(redis_proxy_cache::config::Config::parse(raw)),
        build: build_any::<redis_proxy_cache::Filter>,
        root: alone::<redis_proxy_cache::Filter>,
    },
    Known {
        name: "redis-session",
        check: |raw| parsed(redis_session::config::Config::parse(raw)),
        build: build_any::<redis_session::Filter>,
        root: alone::<redis_session::Filter>,
    },
    Known {
        name: "redis-jwt",
        check: |raw| parsed(redis_jwt::config::Config::parse(raw)),
        build: build_any::<redis_jwt::Filter>,
        root: alone::<redis_jwt::Filter>,
    },
    Known {
        name: "redis-jwt-blacklist",
        check: |raw| parsed(redis_jwt_blacklist::config::Config::parse(raw)),
        build: build_any::<redis_jwt_blacklist::Filter>,
        root: alone::<redis_jwt_blacklist::Filter>,
    },
];

/// A parser's verdict, without what it parsed.
fn parsed<T>(result: Result<T, redis_filter_core::ConfigError>) -> Result<(), String> {
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// The filter named `name`, if a chain may run it.
pub fn find(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}
