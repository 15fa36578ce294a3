//! redis-session end to end against a real redis-server, on every host: an authentication
//! filter (consumer-stub, standing in for redis-jwt or Kong's auth plugins) identifies the
//! consumer, the session filter gives the client a cookie, and another gateway node honours it;
//! the Redis hash has the integration guide's fields; logout, idling timeout, tampered and
//! forged cookies, a forged `X-Consumer-ID`, Redis down.

use e2e_tests::gateway::{all_hosts, Gateway, Host};
use e2e_tests::harness::TempDir;
use e2e_tests::http::{get, request, Response};
use e2e_tests::kong_yml::{KongYml, Route};
use e2e_tests::{clock, eventually_ok, RedisServer, RedisVersion};
use std::time::{Duration, Instant};

fn filters() -> TempDir {
    e2e_tests::harness::dist_and_test_filters()
}

/// The guide's config (cookie_name kong_session, cookie_lifetime, ...) behind consumer-stub.
fn yaml(redis: &RedisServer, extra: &str) -> String {
    let stub = r#"{"keys": {"k-alice": {"id": "c-alice", "username": "alice", "credential": "k-alice", "groups": ["buyers"]}}}"#;
    let session = format!(
        r#"{{"storage": "redis", "redis_host": "127.0.0.1", "redis_port": {}, "redis_timeout": 2000, "cookie_name": "kong_session", "cookie_lifetime": 3600, "cookie_secure": true, "secret": "a-secret-shared-by-every-node"{extra}}}"#,
        redis.port
    );
    let shop = Route::at("/").name("shop").filter("consumer-stub", stub);
    let shop = shop
        .filter("redis-session", &session)
        .filter("redis-chain-end", "");
    KongYml::new().route(shop).to_string()
}

/// The `kong_session=...` pair of a response's Set-Cookie.
fn session_cookie(r: &Response) -> String {
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kong_session="))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", r.headers));
    set.split(';').next().unwrap().to_string()
}

/// The consumer the upstream saw (the echo upstream returns the request's headers).
fn upstream_consumer(r: &Response) -> Option<String> {
    r.json()["headers"]["x-consumer-id"]
        .as_str()
        .map(str::to_string)
}

fn with_cookie(gw: &Gateway, cookie: &str) -> Response {
    get(gw.addr(), "/", &[("cookie", cookie)])
}

/// A request with the cookie on `gw` is authenticated (a session just written may take a tick
/// to land in Kong's engine).
fn eventually_authenticated(host: Host, gw: &Gateway, cookie: &str) -> Response {
    eventually_ok(
        &format!("{host:?}: authenticated by the cookie"),
        Duration::from_secs(5),
        || {
            let r = with_cookie(gw, cookie);
            match upstream_consumer(&r).as_deref() {
                Some("c-alice") => Ok(r),
                _ => Err(r.text()),
            }
        },
    )
}

#[test]
fn a_session_made_on_one_node_is_honoured_on_another_until_logout() {
    let dir = filters();
    let test = "a_session_made_on_one_node_is_honoured_on_another_until_logout";
    for (host, version) in RedisVersion::pairs(all_hosts(test), test) {
        eprintln!("{test}: {host:?}, Redis {version:?}");
        let redis = version.start(&[]);
        let kong_yml = yaml(&redis, "");
        let a = Gateway::start(host, &kong_yml, &dir.0);
        let b = Gateway::start(host, &kong_yml, &dir.0);
        // Login: the auth filter identifies alice; the session filter answers with a cookie.
        let login = get(a.addr(), "/", &[("apikey", "k-alice")]);
        assert_eq!(login.status, 200, "{host:?}: {}", login.text());
        let cookie = session_cookie(&login);
        let set = login.header("set-cookie").unwrap();
        assert!(
            set.ends_with("; Path=/; SameSite=Strict; Secure; HttpOnly"),
            "{set}"
        );
        // The cookie alone, on the other node.
        let r = eventually_authenticated(host, &b, &cookie);
        let headers = &r.json()["headers"];
        assert_eq!(headers["x-consumer-username"], "alice", "{host:?}");
        assert_eq!(headers["x-credential-identifier"], "k-alice", "{host:?}");
        assert_eq!(headers["x-authenticated-groups"], "buyers", "{host:?}");
        // The guide's hash: HGETALL kong_session:<id>.
        let sid = cookie
            .trim_start_matches("kong_session=")
            .split('.')
            .next()
            .unwrap();
        let hash = redis
            .request(&["HGETALL", &format!("kong_session:{sid}")])
            .unwrap()
            .pairs();
        let field = |name: &str| hash.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(field("id").as_deref(), Some(sid), "{host:?}: {hash:?}");
        let credential: serde_json::Value =
            serde_json::from_str(&field("credential").unwrap()).unwrap();
        assert_eq!(credential["id"], "c-alice");
        assert_eq!(credential["username"], "alice");
        // As the guide shows: exp is auth_time + cookie_lifetime (3600).
        let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok()).unwrap();
        assert_eq!(
            number("exp"),
            number("auth_time") + 3600,
            "{host:?}: {hash:?}"
        );
        // Logout on node B: 200, the cookie cleared, the hash gone, the cookie worthless.
        let out = request(
            b.addr(),
            "POST",
            "/?session_logout",
            &[("cookie", &cookie)],
            b"",
        );
        assert_eq!(out.status, 200, "{host:?}: {}", out.text());
        assert!(
            out.body.is_empty() || out.body == b"\n",
            "{host:?}: {:?}",
            out.text()
        );
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
        assert_eq!(
            redis
                .request(&["EXISTS", &format!("kong_session:{sid}")])
                .unwrap()
                .int(),
            Some(0)
        );
        assert_eq!(
            upstream_consumer(&with_cookie(&a, &cookie)),
            None,
            "{host:?}"
        );
        assert!(a.crashes().is_empty() && b.crashes().is_empty(), "{host:?}");
    }
}

#[test]
fn forged_tampered_and_idle_sessions_are_no_sessions() {
    let dir = filters();
    for host in all_hosts("forged_tampered_and_idle_sessions_are_no_sessions") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &yaml(&redis, r#", "idling_timeout": 1"#), &dir.0);
        // A client's own X-Consumer-ID makes no session.
        let forged = get(gw.addr(), "/", &[("x-consumer-id", "c-alice")]);
        assert!(
            forged.header("set-cookie").is_none(),
            "{host:?}: {:?}",
            forged.headers
        );
        let cookie = session_cookie(&get(gw.addr(), "/", &[("apikey", "k-alice")]));
        eventually_authenticated(host, &gw, &cookie);
        // Tampered, truncated and foreign cookies.
        let mut tampered = cookie.clone().into_bytes();
        let at = "kong_session=".len() + 3;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let truncated = cookie[..cookie.len() - 4].to_string();
        for bad in [tampered, truncated, "kong_session=abc.def".to_string()] {
            assert_eq!(
                upstream_consumer(&with_cookie(&gw, &bad)),
                None,
                "{host:?}: {bad}"
            );
        }
        // Idle for longer than idling_timeout (1 s): gone.
        clock::wait_for("idling_timeout (1 s) to pass", Duration::from_millis(2100));
        assert_eq!(
            upstream_consumer(&with_cookie(&gw, &cookie)),
            None,
            "{host:?}: idle"
        );
        // Redis down: no session, no error, no 5xx.
        redis.kill();
        for _ in 0..5 {
            let r = with_cookie(&gw, &cookie);
            assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        }
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// The authentication filter after the session filter in the chain: the consumer is known only
/// in the response phase, where Kong's engine allows no call; the root writes the session from
/// its next tick, and the cookie works.
#[test]
fn a_session_learnt_in_the_response_phase_is_written_by_the_root() {
    let dir = filters();
    for host in all_hosts("a_session_learnt_in_the_response_phase_is_written_by_the_root") {
        let redis = RedisServer::start(&[]);
        let reversed = yaml(&redis, "");
        let stub_at = reversed.find("      - name: consumer-stub").unwrap();
        let session_at = reversed.find("      - name: redis-session").unwrap();
        let end_at = reversed.find("      - name: redis-chain-end").unwrap();
        let kong_yml = format!(
            "{}{}{}{}",
            &reversed[..stub_at],
            &reversed[session_at..end_at],
            &reversed[stub_at..session_at],
            &reversed[end_at..]
        );
        let gw = Gateway::start(host, &kong_yml, &dir.0);
        let login = get(gw.addr(), "/", &[("apikey", "k-alice")]);
        let cookie = session_cookie(&login);
        eventually_authenticated(host, &gw, &cookie);
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// Past three quarters of the rolling period a request renews the session under a new id; the
/// old cookie works `stale_ttl` longer; a rolling period that passes without a request ends the
/// session; the absolute timeout ends a session however active.
#[test]
fn renewal_and_the_absolute_timeout() {
    let dir = filters();
    for host in all_hosts("renewal_and_the_absolute_timeout") {
        let redis = RedisServer::start(&[]);
        // The guide's `cookie_lifetime` (an old name, which wins) is the rolling timeout.
        let rolling = yaml(&redis, r#", "idling_timeout": 0, "stale_ttl": 1"#)
            .replace(r#""cookie_lifetime": 3600"#, r#""cookie_lifetime": 8"#);
        let absolute = r#", "absolute_timeout": 2, "idling_timeout": 0"#;
        // Rolling timeout without a renewal (no request in between): the session ends.
        let lapsing = yaml(&redis, r#", "idling_timeout": 0"#)
            .replace(r#""cookie_lifetime": 3600"#, r#""cookie_lifetime": 2"#);
        let lapsing = Gateway::start(host, &lapsing, &dir.0);
        let lapsed = session_cookie(&get(lapsing.addr(), "/", &[("apikey", "k-alice")]));
        let renewing = Gateway::start(host, &rolling, &dir.0);
        let ending = Gateway::start(host, &yaml(&redis, absolute), &dir.0);
        let old = session_cookie(&get(renewing.addr(), "/", &[("apikey", "k-alice")]));
        let short = session_cookie(&get(ending.addr(), "/", &[("apikey", "k-alice")]));
        eventually_authenticated(host, &renewing, &old);
        eventually_authenticated(host, &ending, &short);
        clock::wait_for(
            "three quarters of the rolling period (8 s) and the absolute timeout (2 s)",
            Duration::from_millis(7300),
        );
        let r = eventually_authenticated(host, &renewing, &old);
        let new = session_cookie(&r);
        assert_ne!(new, old, "{host:?}: renewed under a new id");
        eventually_authenticated(host, &renewing, &new);
        assert_eq!(
            upstream_consumer(&with_cookie(&ending, &short)),
            None,
            "{host:?}: absolute"
        );
        assert_eq!(
            upstream_consumer(&with_cookie(&lapsing, &lapsed)),
            None,
            "{host:?}: rolling"
        );
        clock::wait_for("stale_ttl (1 s) to pass", Duration::from_millis(1100));
        assert_eq!(
            upstream_consumer(&with_cookie(&renewing, &old)),
            None,
            "{host:?}: stale"
        );
        eventually_authenticated(host, &renewing, &new);
    }
}

/// Times are whole seconds, so a session begun late in a second and touched early in the next
/// must still live its whole rolling period: its Redis key may not expire before the checks
/// would end it (the key once lived up to a second less, and a request 7.3 s into an 8 s
/// period found no session).
#[test]
fn a_session_begun_late_in_a_second_lives_its_whole_rolling_period() {
    let dir = filters();
    for host in all_hosts("a_session_begun_late_in_a_second_lives_its_whole_rolling_period") {
        let redis = RedisServer::start(&[]);
        let kong_yml = yaml(&redis, r#", "idling_timeout": 0"#)
            .replace(r#""cookie_lifetime": 3600"#, r#""cookie_lifetime": 3"#);
        let gw = Gateway::start(host, &kong_yml, &dir.0);
        // Warm up the gateway so that the timed requests below are quick.
        let warm = session_cookie(&get(gw.addr(), "/", &[("apikey", "k-alice")]));
        eventually_authenticated(host, &gw, &warm);
        clock::wait_to_fraction_of_second(0.9);
        let begun = Instant::now();
        let cookie = session_cookie(&get(gw.addr(), "/", &[("apikey", "k-alice")]));
        clock::wait_to_fraction_of_second(0.05);
        eventually_authenticated(host, &gw, &cookie);
        clock::wait_past(
            "2.6 s into the 3 s rolling period",
            begun + Duration::from_millis(2600),
        );
        eventually_authenticated(host, &gw, &cookie);
    }
}

/// A Redis that refuses writes (full, with `noeviction`) still serves the sessions it holds:
/// the read's touch is best effort, as Kong's read is a plain GET.
#[test]
fn a_redis_that_refuses_writes_still_serves_its_sessions() {
    let dir = filters();
    for host in all_hosts("a_redis_that_refuses_writes_still_serves_its_sessions") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(host, &yaml(&redis, ""), &dir.0);
        let cookie = session_cookie(&get(gw.addr(), "/", &[("apikey", "k-alice")]));
        eventually_authenticated(host, &gw, &cookie);
        redis
            .request(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
            .unwrap();
        redis.request(&["CONFIG", "SET", "maxmemory", "1"]).unwrap();
        let set = redis.request(&["SET", "x", "y"]).unwrap();
        assert!(set.error().is_some_and(|e| e.starts_with("OOM")), "{set:?}");
        eventually_authenticated(host, &gw, &cookie);
    }
}

/// Sessions through Redis Sentinel (the master it names holds the hash) and on a Redis Cluster
/// (the hash on its slot's master), on every host.
#[test]
fn sessions_through_sentinel_and_on_a_cluster() {
    use e2e_tests::cluster::RedisCluster;
    use e2e_tests::redis_server::Resp;
    use e2e_tests::sentinel::{SentinelGroup, SentinelOptions};
    let dir = filters();
    for host in all_hosts("sessions_through_sentinel_and_on_a_cluster") {
        let group = SentinelGroup::start(SentinelOptions::default());
        let sentinels: Vec<String> = group
            .sentinel_ports()
            .iter()
            .map(|p| format!(r#"{{"host": "127.0.0.1", "port": {p}}}"#))
            .collect();
        let cluster = RedisCluster::start(3, 0);
        let redis = RedisServer::start(&[]);
        let via_sentinel = yaml(&redis, "").replace(
            &format!(r#""redis_host": "127.0.0.1", "redis_port": {}, "redis_timeout": 2000, "#, redis.port),
            &format!(
                r#""redis": {{"sentinel_master": "{}", "sentinel_role": "master", "sentinel_nodes": [{}]}}, "#,
                group.master_name(),
                sentinels.join(", ")
            ),
        );
        let on_cluster = yaml(&redis, "").replace(
            &format!(
                r#""redis_host": "127.0.0.1", "redis_port": {}, "redis_timeout": 2000, "#,
                redis.port
            ),
            &format!(
                r#""redis": {{"cluster_nodes": [{{"ip": "127.0.0.1", "port": {}}}]}}, "#,
                cluster.seed()
            ),
        );
        for (kong_yml, topology) in [(via_sentinel, "sentinel"), (on_cluster, "cluster")] {
            assert!(!kong_yml.contains("redis_port"), "{kong_yml}");
            let a = Gateway::start(host, &kong_yml, &dir.0);
            let b = Gateway::start(host, &kong_yml, &dir.0);
            let cookie = session_cookie(&get(a.addr(), "/", &[("apikey", "k-alice")]));
            eventually_authenticated(host, &b, &cookie);
            let sid = cookie
                .trim_start_matches("kong_session=")
                .split('.')
                .next()
                .unwrap();
            let key = format!("kong_session:{sid}");
            let found = if topology == "sentinel" {
                group.master().request(&["EXISTS", &key]).unwrap().int() == Some(1)
            } else {
                let port = cluster.master_for_slot(cluster.key_slot(&key));
                matches!(cluster.cmd_on(port, &["EXISTS", &key]), Resp::Int(1))
            };
            assert!(found, "{host:?} {topology}: {key}");
        }
    }
}

/// `storage: cookie` (Kong's default): the session sealed in the cookie, honoured by any node
/// with the same secret, no Redis at all.
#[test]
fn storage_cookie_needs_no_redis_and_works_on_every_node() {
    let dir = filters();
    for host in all_hosts("storage_cookie_needs_no_redis_and_works_on_every_node") {
        let redis = RedisServer::start(&[]);
        let kong_yml = yaml(&redis, "").replace(r#""storage": "redis""#, r#""storage": "cookie""#);
        let a = Gateway::start(host, &kong_yml, &dir.0);
        let b = Gateway::start(host, &kong_yml, &dir.0);
        redis.kill();
        let cookie = session_cookie(&get(a.addr(), "/", &[("apikey", "k-alice")]));
        assert!(!cookie.contains("alice"), "{host:?}: sealed");
        eventually_authenticated(host, &b, &cookie);
        let mut tampered = cookie.clone().into_bytes();
        let at = tampered.len() - 5;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            upstream_consumer(&with_cookie(&b, &tampered)),
            None,
            "{host:?}"
        );
        let out = request(
            b.addr(),
            "DELETE",
            "/?session_logout",
            &[("cookie", &cookie)],
            b"",
        );
        assert_eq!(out.status, 200, "{host:?}");
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    }
}

/// `read_body_for_logout`: a form body with `logout_post_arg` logs out.
#[test]
fn a_logout_in_the_body() {
    let dir = filters();
    for host in all_hosts("a_logout_in_the_body") {
        let redis = RedisServer::start(&[]);
        let gw = Gateway::start(
            host,
            &yaml(&redis, r#", "read_body_for_logout": true"#),
            &dir.0,
        );
        let cookie = session_cookie(&get(gw.addr(), "/", &[("apikey", "k-alice")]));
        eventually_authenticated(host, &gw, &cookie);
        let form = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let kept = request(gw.addr(), "POST", "/", &form, b"a=1");
        assert_eq!(upstream_consumer(&kept), Some("c-alice".into()), "{host:?}");
        let out = request(gw.addr(), "POST", "/", &form, b"a=1&session_logout=1");
        assert_eq!(out.status, 200, "{host:?}: {}", out.text());
        assert!(
            out.header("set-cookie").unwrap().contains("Max-Age=0"),
            "{host:?}"
        );
        assert_eq!(
            upstream_consumer(&with_cookie(&gw, &cookie)),
            None,
            "{host:?}"
        );
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}

/// `remember`: a persistent cookie that brings the session back once the session cookie is
/// gone (the browser closed), on another node, for both storages.
#[test]
fn a_remember_cookie_brings_the_session_back() {
    let dir = filters();
    for host in all_hosts("a_remember_cookie_brings_the_session_back") {
        let redis = RedisServer::start(&[]);
        for storage in ["redis", "cookie"] {
            let kong_yml = yaml(&redis, r#", "remember": true"#).replace(
                r#""storage": "redis""#,
                &format!(r#""storage": "{storage}""#),
            );
            let a = Gateway::start(host, &kong_yml, &dir.0);
            let b = Gateway::start(host, &kong_yml, &dir.0);
            let login = get(a.addr(), "/", &[("apikey", "k-alice")]);
            let remember = login
                .headers
                .iter()
                .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("remember="))
                .map(|(_, v)| v.split(';').next().unwrap().to_string())
                .unwrap_or_else(|| panic!("{host:?} {storage}: {:?}", login.headers));
            let r = eventually_authenticated(host, &b, &remember);
            let session = session_cookie(&r);
            eventually_authenticated(host, &a, &session);
            assert!(a.crashes().is_empty() && b.crashes().is_empty(), "{host:?}");
        }
    }
}
