//! The demo (demo/kong.yml, what scripts/demo.sh shows) on every host: rate limiting with Kong's
//! headers and the 429, per consumer behind redis-jwt; a response cached in Redis; a session
//! begun with a JWT and then carried by its cookie alone; a JWT revoked at logout. And
//! demo/envoy.json, the Envoy config the demo runs by default, is what `redis-filters
//! render-envoy` writes for demo/kong.yml.

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::{dist_dir, TempDir};
use e2e_tests::http::{get, request, Response};
use e2e_tests::{demo_kong_yml, eventually, RedisServer};
use redis_filter_core::jwt::testing::sign;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An HS256 token for `key` (its `iss`), valid for an hour, with its `jti`.
fn token(key: &str, secret: &[u8], jti: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = format!(r#"{{"iss":"{key}","exp":{exp},"jti":"{jti}"}}"#);
    format!("Bearer {}", sign("HS256", &claims, secret))
}

/// The consumer the upstream was told of (the echo's JSON).
fn upstream_consumer(r: &Response) -> Option<String> {
    r.json()["headers"]["x-consumer-id"]
        .as_str()
        .map(str::to_string)
}

/// The `name=value` of a response's session cookie.
fn session_cookie(r: &Response) -> String {
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("session="))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", r.headers));
    set.split(';').next().unwrap_or_default().to_string()
}

#[test]
fn the_demo_serves_on_every_host() {
    for host in all_hosts("the_demo_serves_on_every_host") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &demo_kong_yml(&redis), &dist_dir());
        let at = gw.addr();

        // Rate limiting: 5 a minute on /api (a minute may turn over between two requests, so
        // the count is checked on the last five).
        let statuses: Vec<u16> = (0..12)
            .map(|_| get(at, "/api/products", &[]).status)
            .collect();
        assert!(statuses.contains(&429), "{host:?}: {statuses:?}");
        let refused = get(at, "/api/products", &[]);
        assert_eq!(refused.status, 429, "{host:?}");
        assert_eq!(refused.json()["message"], "API rate limit exceeded");
        assert_eq!(refused.header("x-ratelimit-limit-minute"), Some("5"));

        // Per consumer behind redis-jwt; a forged X-Consumer-ID without a token is Kong's 401.
        let alice = token("alice-key", b"alice-secret", "demo-1");
        let bob = token("bob-key", b"bob-secret", "demo-2");
        let r = get(at, "/consumers", &[("authorization", &alice)]);
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-second"), Some("2"), "{host:?}");
        let forged = get(at, "/consumers", &[("x-consumer-id", "alice")]);
        assert_eq!(forged.status, 401, "{host:?}");

        // The catalog cached in Redis: Miss, then Hit with the same body.
        let catalog = "/catalog/items?header=Cache-Control:public,max-age=300";
        let miss = get(at, catalog, &[]);
        assert_eq!(miss.header("x-cache-status"), Some("Miss"), "{host:?}");
        eventually(&format!("{host:?}: a Hit"), Duration::from_secs(5), || {
            let r = get(at, catalog, &[]);
            r.header("x-cache-status") == Some("Hit") && r.body == miss.body
        });

        // A session begun with alice's JWT; then the cookie alone says who it is.
        let login = get(at, "/shop", &[("authorization", &alice)]);
        assert_eq!(upstream_consumer(&login).as_deref(), Some("alice"));
        let cookie = session_cookie(&login);
        eventually(
            &format!("{host:?}: the cookie alone authenticates"),
            Duration::from_secs(5),
            || {
                upstream_consumer(&get(at, "/shop", &[("cookie", &cookie)])).as_deref()
                    == Some("alice")
            },
        );
        let nobody = get(at, "/shop", &[]);
        assert_eq!(upstream_consumer(&nobody).as_deref(), Some("anonymous"));

        // A JWT revoked at logout is refused; another stays good.
        let auth = [("authorization", alice.as_str())];
        assert_eq!(get(at, "/orders", &auth).status, 200, "{host:?}");
        let out = request(at, "POST", "/orders/logout", &auth, b"");
        assert_eq!(out.status, 200, "{host:?}: {}", out.text());
        assert_eq!(
            out.json()["message"],
            "Token revoked",
            "{host:?}: {}",
            out.text()
        );
        let refused = get(at, "/orders", &auth);
        assert_eq!(refused.status, 401, "{host:?}");
        assert_eq!(refused.json()["message"], "Token revoked");
        let bob = [("authorization", bob.as_str())];
        assert_eq!(get(at, "/orders", &bob).status, 200, "{host:?}");
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// Values no real config holds, standing for the template's placeholders.
const MARKS: [(&str, &str); 4] = [
    ("${ECHO_PORT}", "59101"),
    ("${REDIS_PORT}", "59102"),
    ("${GATEWAY_PORT}", "59103"),
    ("${DIST}", "/demo-dist-dir"),
];

/// What `redis-filters render-envoy` writes for demo/kong.yml, the marks put back as
/// placeholders (ports stand unquoted: the template is JSON once filled in).
fn rendered_template(dir: &Path) -> String {
    let mut yaml = std::fs::read_to_string(repo().join("demo/kong.yml")).unwrap();
    for (placeholder, mark) in MARKS {
        yaml = yaml.replace(placeholder, mark);
    }
    let kong = dir.join("kong.yml");
    std::fs::write(&kong, yaml).unwrap();
    let config = redis_filters::kong_config::KongConfig::load(&kong).unwrap();
    let opts = redis_filters::envoy_config::EnvoyOptions {
        filters_path: Path::new(MARKS[3].1),
        listen: ("127.0.0.1".into(), MARKS[2].1.parse().unwrap()),
        admin: None,
        redis_allow: vec![],
        xff_trusted_hops: 0,
        redis_ca: None,
        native: false,
    };
    let rendered = redis_filters::envoy_config::render(&config, &opts).unwrap();
    let mut text = serde_json::to_string_pretty(&rendered).unwrap() + "\n";
    for (placeholder, mark) in MARKS {
        text = text.replace(mark, placeholder);
    }
    text
}

#[test]
fn demo_envoy_json_is_what_render_envoy_writes_for_the_demo() {
    let dir = TempDir::new("demo-template");
    let want = rendered_template(&dir.0);
    let path = repo().join("demo/envoy.json");
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want && std::env::var_os("WRITE_DEMO_TEMPLATE").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        have == want,
        "demo/envoy.json is not what render-envoy writes for demo/kong.yml; write it again with \
         WRITE_DEMO_TEMPLATE=1 cargo test -p e2e-tests --test demo"
    );
    // Filled in, Envoy takes it.
    let mut filled = have;
    for (placeholder, value) in [
        ("${ECHO_PORT}", "9000"),
        ("${REDIS_PORT}", "6379"),
        ("${GATEWAY_PORT}", "8000"),
    ] {
        filled = filled.replace(placeholder, value);
    }
    let dist = std::fs::canonicalize(dist_dir()).unwrap();
    let filled = filled.replace("${DIST}", dist.to_str().unwrap());
    let config = dir.0.join("envoy.json");
    std::fs::write(&config, filled).unwrap();
    e2e_tests::envoy::validate(&config);
}
