use super::*;
use crate::shared_data::Memory as Store;

#[derive(Debug, Clone, PartialEq)]
struct Name(String);

impl Layout for Name {
    fn to_text(&self) -> String {
        self.0.clone()
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(Name(text.to_string()))
    }
}

fn used(l: Lookup<'_, Name>) -> Option<String> {
    match l {
        Lookup::Use(n) => Some(n.0.clone()),
        _ => None,
    }
}

#[test]
fn unknown_waits_and_one_lookup_starts() {
    let store = Store::default();
    let mut c: Cached<Name> = Cached::new("k".into());
    assert!(matches!(c.lookup(&store, 0), Lookup::Wait));
    assert!(c.start(0));
    assert!(!c.start(0), "one lookup at a time");
    c.found(&store, 5, Name("a".into()));
    assert_eq!(used(c.lookup(&store, 6)), Some("a".into()));
    assert!(!c.start(500), "a fresh layout needs no lookup");
}

#[test]
fn another_worker_adopts_the_shared_lookup() {
    let store = Store::default();
    let mut a: Cached<Name> = Cached::new("k".into());
    let mut b: Cached<Name> = Cached::new("k".into());
    a.start(0);
    a.found(&store, 0, Name("m1".into()));
    assert_eq!(used(b.lookup(&store, 1)), Some("m1".into()));
    // b's node fails; a already looked again: b adopts that without a lookup of its own.
    b.invalidate();
    a.invalidate();
    assert!(a.start(200));
    a.found(&store, 200, Name("m2".into()));
    assert_eq!(used(b.lookup(&store, 201)), Some("m2".into()));
    assert!(!b.start(201));
}

#[test]
fn an_invalid_layout_is_not_used_and_a_failed_lookup_fails_fast_for_a_while() {
    let store = Store::default();
    let mut c: Cached<Name> = Cached::new("k".into());
    c.start(0);
    c.found(&store, 0, Name("m".into()));
    c.invalidate();
    assert!(matches!(c.lookup(&store, 150), Lookup::Wait));
    assert!(c.start(150));
    c.failed(160, RedisError::Unavailable);
    assert!(matches!(c.lookup(&store, 170), Lookup::Fail(_)));
    assert!(!c.start(170));
    let retry = 160 + RETRY_AFTER_FAILURE_MS;
    assert!(matches!(c.lookup(&store, retry), Lookup::Wait));
    assert!(c.start(retry));
}

#[test]
fn a_layout_to_refresh_stays_in_use() {
    let store = Store::default();
    let mut c: Cached<Name> = Cached::new("k".into());
    c.start(0);
    c.found(&store, 0, Name("m".into()));
    c.refresh();
    assert!(!c.start(10), "not before the minimum interval");
    assert!(c.start(MIN_INTERVAL_MS));
    assert_eq!(used(c.lookup(&store, MIN_INTERVAL_MS)), Some("m".into()));
    c.failed(MIN_INTERVAL_MS, RedisError::Timeout);
    assert_eq!(
        used(c.lookup(&store, MIN_INTERVAL_MS + 1)),
        Some("m".into())
    );
}

#[test]
fn garbage_in_shared_data_is_ignored() {
    let store = Store::default();
    store.set("k", b"not a generation", 0).unwrap();
    let mut c: Cached<Name> = Cached::new("k".into());
    assert!(matches!(c.lookup(&store, 0), Lookup::Wait));
    c.start(0);
    c.found(&store, 0, Name("m".into()));
    let (bytes, _) = store.get("k").unwrap();
    assert_eq!(bytes, b"1\nm");
}
