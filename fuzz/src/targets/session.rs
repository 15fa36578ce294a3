//! Session cookies as a client sends them: the `Cookie` header, the signed id of Redis-stored
//! sessions, the sealed session of cookie-stored ones, and the plaintext a sealed cookie opens
//! to (reachable only with the key, so fuzzed directly), and the consumer handed over between
//! filters.

use crate::engine::Target;
use redis_session::config::Config;
use redis_session::{cookie, sealed};
use std::sync::OnceLock;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(br#"{"storage": "cookie", "secret": "s", "cookie_name": "kong_session"}"#)
            .unwrap_or_else(|e| unreachable!("the fuzz target's config: {e}"))
    })
}

pub const TARGET: Target = Target {
    name: "session-cookie",
    seeds: || {
        let key = cookie::key(config());
        let sid = redis_filter_core::base64::b64url(&[7u8; 32]);
        let signed = cookie::value(&key, "default", &sid);
        super::texts(&[
            &format!("kong_session={signed}"),
            &format!("a=1; kong_session={signed}; b=2"),
            "kong_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            r#"{"c": {"id": "c1", "username": "u", "groups": ["g"]}, "a": 1, "r": 2, "s": 3, "j": "x"}"#,
            r#"{"id": "c1", "custom_id": null, "credential": "k", "groups": []}"#,
        ])
    },
    dictionary: &[
        "kong_session=",
        "; ",
        ".",
        "=",
        "\"c\":",
        "\"id\":",
        "{}",
        "null",
    ],
    run: |input| {
        let config = config();
        let key = cookie::key(config);
        let header = super::text(input);
        let value = cookie::find(&header, "kong_session").unwrap_or(&header);
        let _ = cookie::verify(&key, &config.audience, value);
        let _ = sealed::open(config, "kong_session", &key, value);
        let _ = sealed::read(input);
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(input) {
            let _ = redis_filter_core::identity::Consumer::from_json(&json);
        }
    },
};
