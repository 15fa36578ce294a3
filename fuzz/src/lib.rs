//! Fuzzing for every parser that attackers or broken peers feed (issue 19): Redis replies, each
//! filter's config, JWTs, session cookies, cached entries, cache-key inputs, the harness'
//! kong.yml and whatever the filters' tables read back from shared data. The engine needs no
//! nightly compiler: the same targets run as plain tests (a few thousand inputs each) and from
//! `scripts/fuzz.sh` (millions).

pub mod engine;
pub mod targets;
