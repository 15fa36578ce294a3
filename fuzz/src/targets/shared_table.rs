//! What the filters read back through their tables in shared data (`shared_table`): whatever
//! bytes are there. In Kong's engine every filter of a gateway shares one `shm_kv` namespace,
//! so an entry may be anyone's.

use crate::engine::Target;
use redis_filter_core::shared_data::{Memory, SharedData};
use redis_filter_core::shared_table::Table;
use redis_rate_limiting::keys::Scope;
use redis_rate_limiting::periods::Period;
use redis_rate_limiting::slots::{self, Slot};

const TABLE: Table = Table::new("t|", 4, 4);

fn slot() -> Slot {
    Slot::new(&Scope::default(), "a", Period::Second, 1000, 2000, 2)
}

/// The table's keys, each holding `value`.
fn filled(value: &[u8]) -> Memory {
    let data = Memory::default();
    for bucket in 0..4 {
        let _ = data.set(&format!("t|{bucket}"), value, 0);
    }
    data
}

pub const TARGET: Target = Target {
    name: "shared-table",
    seeds: || {
        // Entries as the filters write them: a counter, sync counts, a blank, a cached entry.
        let data = Memory::default();
        let entries: [(&str, Vec<u8>); 3] = [
            ("a", slots::bytes(&[1000, 7])),
            ("b", slots::bytes(&[1000, 3, 1, 2])),
            ("c", b"{\"version\":1}\n".to_vec()),
        ];
        for (name, payload) in entries {
            let _ = TABLE.update(&data, name, 0, |_, _| Some((payload.clone(), 5000, ())));
        }
        let map = data.map.borrow();
        map.values().map(|(v, _)| v.clone()).collect()
    },
    dictionary: &["\0\0\0\0", "\u{ff}", "\u{1}\0"],
    run: |input| {
        let data = filled(input);
        let _ = TABLE.get(&data, "a", 1500);
        let _ = TABLE.update(&data, "a", 1500, |cur, held| {
            Some((cur.unwrap_or_default().to_vec(), 3000, held))
        });
        let _ = TABLE.update(&data, "new", 1500, |_, _| Some((Vec::new(), 3000, ())));
        let _ = slots::counts(Some(input), &slot());
        let _ = slots::words(input);
    },
};
