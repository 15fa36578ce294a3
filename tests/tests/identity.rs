//! The consumer hand-off between the filters of one chain (`redis_filter_core::identity`), on
//! every host: what an authentication filter hands over, the filters after it read; what a
//! client sends (`X-Consumer-ID`, a header named like the property) hands over nothing.

use e2e_tests::gateway::{all_hosts, Gateway};
use e2e_tests::harness::test_filters_dir;
use e2e_tests::http::get;
use e2e_tests::kong_yml::{KongYml, Route};

fn yaml() -> String {
    let keys =
        r#"{"keys": {"k-alice": {"id": "c-alice", "username": "alice", "credential": "k-alice"}}}"#;
    let guarded = Route::at("/").name("guarded").filter("consumer-stub", keys);
    let guarded = guarded.filter("consumer-stub", r#"{"report": true}"#);
    KongYml::new().route(guarded).to_string()
}

#[test]
fn a_consumer_handed_over_reaches_the_next_filter_and_a_client_cannot_forge_one() {
    for host in
        all_hosts("a_consumer_handed_over_reaches_the_next_filter_and_a_client_cannot_forge_one")
    {
        let gw = Gateway::start(host, &yaml(), &test_filters_dir());
        let r = get(gw.addr(), "/", &[("apikey", "k-alice")]);
        assert_eq!(r.status, 200, "{host:?}: {}", r.text());
        assert_eq!(
            r.header("x-handed-consumer"),
            Some("c-alice"),
            "{host:?}: {}",
            gw.log()
        );
        for forged in [
            vec![("x-consumer-id", "c-alice")],
            vec![("redis_filters_consumer", r#"{"id":"c-alice"}"#)],
            vec![("apikey", "wrong"), ("x-consumer-username", "alice")],
        ] {
            let r = get(gw.addr(), "/", &forged);
            assert_eq!(
                r.header("x-handed-consumer"),
                Some("none"),
                "{host:?}: {forged:?}"
            );
        }
        assert!(gw.crashes().is_empty(), "{host:?}: {:?}", gw.crashes());
    }
}
