//! Redis replies as they come back through a tunnel: whole, cut short, or garbage.

use crate::engine::Target;
use redis_filter_core::resp::{decode_replies, decode_some, split_frames};

pub const TARGET: Target = Target {
    name: "resp-replies",
    seeds: || {
        super::texts(&[
            "+OK\r\n",
            ":1\r\n$3\r\nabc\r\n",
            "*2\r\n$1\r\na\r\n:5\r\n",
            "-ERR unknown command\r\n-MOVED 3999 127.0.0.1:6381\r\n",
            "$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n",
            "*3\r\n*2\r\n:1\r\n:2\r\n$-1\r\n+x\r\n",
            "%1\r\n+a\r\n:1\r\n_\r\n,1.5\r\n#t\r\n(123\r\n",
            "=7\r\ntxt:abc\r\n~1\r\n:1\r\n>2\r\n+a\r\n+b\r\n|1\r\n+a\r\n+b\r\n:1\r\n",
            "-NOSCRIPT No matching script\r\n:0\r\n",
        ])
    },
    dictionary: &[
        "$-1\r\n",
        "*-1\r\n",
        "\r\n",
        ":9223372036854775807\r\n",
        "$99999999999\r\n",
        "*4294967296\r\n",
        "-ASK 1 h:1\r\n",
        "+",
        "*",
        "$",
        ":",
        "%",
        "~",
        ">",
        "|",
    ],
    run: |input| {
        for expected in 0..4 {
            let _ = decode_replies(input, expected);
            let _ = decode_some(input, expected);
        }
        let _ = split_frames(input);
        if let Ok(replies) = decode_replies(input, 1) {
            for reply in replies {
                let _ = (reply.as_int(), reply.as_bytes().map(<[u8]>::len));
                let _ = reply.error().map(|e| e.to_string());
                let _ = reply.into_result();
            }
        }
    },
};

/// Replies as each filter reads them: whatever Redis (or something posing as it) answers, a
/// filter gets an error to log or a refusal, never a panic.
pub const READERS: Target = Target {
    name: "reply-readers",
    seeds: || {
        super::texts(&[
            ":1\r\n",
            "*2\r\n:3\r\n:4\r\n",
            "*5\r\n:1\r\n$14\r\n{\"id\":\"c-1\"}xx\r\n$3\r\n100\r\n$3\r\n100\r\n$0\r\n\r\n",
            "$70\r\n{\"id\": \"c\", \"jwt_secrets\": [{\"key\": \"k\", \"secret\": \"s\"}]}\r\n",
            "*3\r\n$-1\r\n:0\r\n+OK\r\n",
            "$40\r\n{\"version\":1,\"status\":200,\"headers\":[]}\nbody\r\n",
            "-ERR x\r\n",
        ])
    },
    dictionary: &[
        "$-1\r\n",
        "*2\r\n",
        ":-1\r\n",
        "{\"id\":",
        "\"jwt_secrets\":",
        "\r\n",
    ],
    run: |input| {
        use redis_filter_core::Reply;
        let frames = split_frames(input).map_or(0, |(frames, _)| frames.len());
        let Ok((replies, _)) = decode_some(input, frames.max(1)) else {
            return;
        };
        let outcome = || -> redis_filter_core::Outcome { Ok(replies.clone()) };
        let _ = redis_rate_limiting::script::counts(&replies, replies.len());
        let _ = redis_rate_limiting::script::counts(&replies, 3);
        let _ = redis_session::store::session(outcome());
        let _ = redis_session::store::done(outcome());
        let _ = redis_proxy_cache::store::looked_up(outcome());
        let _ = redis_proxy_cache::store::waited(outcome());
        let _ = redis_proxy_cache::store::locked(outcome());
        if let Ok(Some(raw)) = redis_proxy_cache::store::fetched(outcome()) {
            let _ = redis_proxy_cache::entry::Entry::decode(&raw);
        }
        let _ = redis_proxy_cache::store::stored(outcome());
        let _ = redis_proxy_cache::store::deleted(outcome());
        let _ = redis_jwt::store::parse_reply(outcome(), "k");
        let _ = redis_jwt_blacklist::revoked::is_revoked(outcome());
        let _ = redis_jwt_blacklist::revoked::revoked(outcome());
        let _: Vec<Option<&[u8]>> = replies.iter().map(Reply::as_bytes).collect();
    },
};
