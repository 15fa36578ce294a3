//! Each filter's config as the host hands it over (JSON bytes): a bad one is refused with an
//! error naming the field, never a panic (a panic in `on_configure` takes the worker down in
//! Kong's engine).

use crate::engine::Target;

/// JSON tokens and the fields shared by every filter's `redis` block.
const DICTIONARY: &[&str] = &[
    "null",
    "true",
    "false",
    "-1",
    "1e400",
    "0.5",
    "\"\"",
    "{}",
    "[]",
    "\"redis\"",
    "\"local\"",
    "\"redis\": {",
    "\"host\": ",
    "\"port\": ",
    "\"sentinel_master\": \"m\", ",
    "\"sentinel_role\": \"master\", ",
    "\"sentinel_nodes\": [{\"host\": \"h\", \"port\": 1}], ",
    "\"cluster_nodes\": [{\"ip\": \"h\", \"port\": 1}], ",
    "\"ssl\": true, ",
    "\"timeout\": ",
    "\"redis_host\": ",
    "\"redis_port\": ",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

/// The `redis` blocks every filter's seeds are combined with.
const REDIS: &[&str] = &[
    r#""redis": {"host": "127.0.0.1", "port": 6379, "password": "p", "database": 1, "timeout": 2000}"#,
    r#""redis_host": "127.0.0.1", "redis_port": 6379, "redis_timeout": 500"#,
    r#""redis": {"sentinel_master": "m", "sentinel_role": "any", "sentinel_nodes": [{"host": "127.0.0.1", "port": 26379}]}"#,
    r#""redis": {"cluster_nodes": [{"ip": "127.0.0.1", "port": 7000}], "cluster_max_redirections": 3}"#,
    r#""redis": {"host": "r", "ssl": true, "ssl_verify": true, "server_name": "r", "tunnel": "t"}"#,
];

/// Each of `bodies` (the fields of one filter, without braces) with each `redis` block.
fn with_redis(bodies: &[&str]) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for body in bodies {
        seeds.push(format!("{{{body}}}").into_bytes());
        for redis in REDIS {
            seeds.push(format!("{{{body}, {redis}}}").into_bytes());
        }
    }
    seeds
}

pub const TARGETS: [Target; 5] = [
    Target {
        name: "config-rate-limiting",
        seeds: || {
            with_redis(&[
                r#""minute": 5, "policy": "redis""#,
                r#""second": 1, "hour": 100, "day": 1000, "month": 1, "year": 2, "limit_by": "header", "header_name": "x-user""#,
                r#""minute": 5, "policy": "local", "fault_tolerant": false, "hide_client_headers": true, "error_code": 503, "error_message": "slow down""#,
                r#""minute": 5, "policy": "redis", "sync_rate": 0.1, "limit_by": "path", "path": "/a""#,
                r#""limits": {"minute": 5}, "window_type": "sliding", "route_id": "r", "service_id": "s""#,
            ])
        },
        dictionary: DICTIONARY,
        run: |input| {
            let _ = redis_rate_limiting::config::Config::parse(input).map_err(|e| e.to_string());
        },
    },
    Target {
        name: "config-proxy-cache",
        seeds: || {
            with_redis(&[
                r#""strategy": "redis", "cache_ttl": 300, "content_type": ["text/plain", "application/json; charset=utf-8"]"#,
                r#""strategy": "memory", "response_code": [200, 301], "request_method": ["GET", "HEAD"], "vary_query_params": ["a"], "vary_headers": ["x-v"]"#,
                r#""strategy": "redis", "cache_control": true, "storage_ttl": 60, "ignore_uri_case": true, "bypass_on_err": true, "response_headers": {"age": false, "X-Cache-Status": true, "X-Cache-Key": false}"#,
                r#""strategy": "redis", "max_body_size": 1024, "stale_while_revalidate": 5, "coalesce_timeout": 100, "purge": true"#,
            ])
        },
        dictionary: DICTIONARY,
        run: |input| {
            let _ = redis_proxy_cache::config::Config::parse(input).map_err(|e| e.to_string());
        },
    },
    Target {
        name: "config-session",
        seeds: || {
            with_redis(&[
                r#""storage": "redis", "secret": "s", "cookie_name": "kong_session", "cookie_lifetime": 3600"#,
                r#""storage": "cookie", "secret": "s", "audience": "a", "idling_timeout": 0, "rolling_timeout": 10, "absolute_timeout": 20, "stale_ttl": 1"#,
                r#""storage": "redis", "remember": true, "remember_cookie_name": "r", "cookie_same_site": "Lax", "cookie_http_only": false, "cookie_secure": true, "cookie_domain": "d", "cookie_path": "/p""#,
                r#""storage": "redis", "logout_methods": ["POST"], "logout_query_arg": "bye", "request_headers": ["id", "audience"], "response_headers": ["timeout"], "redis_key_prefix": "p:""#,
            ])
        },
        dictionary: DICTIONARY,
        run: |input| {
            let _ = redis_session::config::Config::parse(input).map_err(|e| e.to_string());
        },
    },
    Target {
        name: "config-jwt",
        seeds: || {
            with_redis(&[
                r#""consumers": [{"id": "c", "username": "u", "jwt_secrets": [{"key": "k", "secret": "s"}]}]"#,
                r#""uri_param_names": ["jwt"], "cookie_names": ["c"], "header_names": ["authorization"], "claims_to_verify": ["exp", "nbf"], "maximum_expiration": 3600, "key_claim_name": "kid""#,
                r#""consumers": [{"id": "c", "jwt_secrets": [{"key": "k", "algorithm": "RS256", "rsa_public_key": "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}]}], "anonymous": "c""#,
                r#""credentials_in_redis": true, "credential_cache_ttl": 1, "credential_negative_ttl": 1, "secret_is_base64": true, "run_on_preflight": false, "realm": "r""#,
            ])
        },
        dictionary: DICTIONARY,
        run: |input| {
            let _ = redis_jwt::config::Config::parse(input).map_err(|e| e.to_string());
        },
    },
    Target {
        name: "config-jwt-blacklist",
        seeds: || {
            with_redis(&[
                r#""storage": "redis", "key_prefix": "revoked:", "uri_param_names": ["jwt"]"#,
                r#""storage": "redis", "revoke_method": "POST", "admin_path": "/revoke", "fault_tolerant": false"#,
            ])
        },
        dictionary: DICTIONARY,
        run: |input| {
            let _ = redis_jwt_blacklist::config::Config::parse(input).map_err(|e| e.to_string());
        },
    },
];
