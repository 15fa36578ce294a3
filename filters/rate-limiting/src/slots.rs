//! Where this gateway keeps its counts (the `local` policy, and `sync_rate`'s counts not yet in
//! Redis): one bounded table in shared data (`redis_filter_core::shared_table`), at most
//! `CAPACITY` keys however many identifiers come. A window's slot is named for its Kong key with
//! the window's place in a ring of `ring` windows (0, 1, ...) in place of its start, so a window
//! and the one before it (which a sliding window reads) have a slot each, and later windows
//! reuse them; with `sync_rate` the ring is longer by the windows one sync takes, so a window's
//! last deltas are sent before a later window takes its slot. The entry holds the window's
//! start: a slot found holding an older window counts as empty. Values are little-endian u64
//! words, the window's start first.

use crate::keys::{key, Scope};
use crate::periods::Period;
use redis_filter_core::shared_table::Table;
use redis_filter_core::SharedData;

/// Counters a gateway keeps at once (a window of one identifier and period is one). With the
/// probes below a new window takes a live counter's place about 1 time in 250 with the table
/// half full, 1 in 60 at 60% and 1 in 6 at 80%: 100,000 identifiers with two periods each fit.
pub const CAPACITY: u64 = 262_144;
const PROBES: u64 = 8;
pub const TABLE: Table = Table::new("ratelimit|", CAPACITY, PROBES);

/// One window's place in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub start_ms: u64,
    /// When the table may give the slot to another window.
    pub expires_ms: u64,
}

/// How many windows of `period` take turns in the slots of one identifier: two, and with
/// `sync_rate` the windows a sync interval (and a tick) spans.
pub fn ring(period: Period, sync_rate: Option<f64>) -> u64 {
    let sync = sync_rate.map_or(0.0, |r| ((r + 0.2) / period.seconds() as f64).ceil());
    2 + sync as u64
}

impl Slot {
    pub fn new(
        scope: &Scope,
        ident: &str,
        period: Period,
        start_ms: u64,
        live_ms: u64,
        ring: u64,
    ) -> Self {
        let place = (start_ms / (period.seconds() * 1000)) % ring.max(1);
        Self {
            name: key(scope, ident, period, place),
            start_ms,
            expires_ms: start_ms + live_ms,
        }
    }
}

pub fn words(payload: &[u8]) -> Vec<u64> {
    payload
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes))
        .collect()
}

pub fn bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The counts stored for the slot's window (after its start), if the slot holds that window.
pub fn counts(payload: Option<&[u8]>, slot: &Slot) -> Option<Vec<u64>> {
    let w = words(payload?);
    (w.first() == Some(&slot.start_ms)).then(|| w.get(1..).unwrap_or_default().to_vec())
}

/// Counts one request (`local`); returns the count before it and whether a live window of
/// another identifier had to give up its slot.
pub fn add(data: &dyn SharedData, slot: &Slot, now_ms: u64) -> Result<(u64, bool), String> {
    let updated = TABLE.update(data, &slot.name, now_ms, |cur, _| {
        let before = counts(cur, slot)
            .and_then(|c| c.first().copied())
            .unwrap_or(0);
        Some((bytes(&[slot.start_ms, before + 1]), slot.expires_ms, before))
    })?;
    Ok(updated.map_or((0, false), |u| (u.value, u.evicted)))
}

/// The count of the slot's window (`local`; 0 when the slot holds another).
pub fn read(data: &dyn SharedData, slot: &Slot, now_ms: u64) -> u64 {
    TABLE
        .get(data, &slot.name, now_ms)
        .and_then(|p| counts(Some(&p), slot))
        .and_then(|c| c.first().copied())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_filter_core::shared_data::Memory;

    #[test]
    fn a_window_counts_in_its_slot_and_the_next_but_one_reuses_it() {
        let data = Memory::default();
        let scope = Scope::default();
        let w0 = Slot::new(&scope, "a", Period::Minute, 0, 120_000, 2);
        let w1 = Slot::new(&scope, "a", Period::Minute, 60_000, 120_000, 2);
        let w2 = Slot::new(&scope, "a", Period::Minute, 120_000, 120_000, 2);
        assert_eq!(add(&data, &w0, 0).unwrap(), (0, false));
        assert_eq!(add(&data, &w0, 1).unwrap(), (1, false));
        assert_eq!(add(&data, &w1, 60_000).unwrap(), (0, false));
        assert_eq!(read(&data, &w0, 60_001), 2, "the previous window is kept");
        assert_eq!(w0.name, w2.name);
        assert_eq!(add(&data, &w2, 120_000).unwrap(), (0, false));
        assert_eq!(read(&data, &w0, 120_001), 0);
        assert_eq!(data.map.borrow().len(), 2);
        assert!(w0.name.ends_with(":0:minute") && w1.name.ends_with(":1:minute"));
    }

    #[test]
    fn with_sync_rate_the_ring_spans_the_windows_of_one_sync() {
        assert_eq!(ring(Period::Minute, None), 2);
        assert_eq!(ring(Period::Minute, Some(1.0)), 3);
        assert_eq!(ring(Period::Second, Some(1.0)), 4);
        assert_eq!(ring(Period::Second, Some(0.1)), 3);
        let scope = Scope::default();
        let names: Vec<String> = (0..5)
            .map(|i| Slot::new(&scope, "a", Period::Second, i * 1000, 5000, 4).name)
            .collect();
        assert_eq!(names[0], names[4]);
        assert!(names[1..4].iter().all(|n| n != &names[0]));
    }
}
