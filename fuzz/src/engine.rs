//! A mutation fuzzer without coverage feedback: each input is a seed (a valid example of what the
//! target parses) or a recent input, changed by one to four mutations (bit flips, bytes that mean
//! something to the format, inserted, deleted, repeated or spliced ranges, truncation). Each
//! input runs under `catch_unwind`; a panic is recorded with the input that caused it. The
//! generator is seeded, so a run is reproducible from its seed.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

thread_local! {
    /// Whether this thread is running fuzz inputs (whose panics are expected and kept quiet).
    static FUZZING: Cell<bool> = const { Cell::new(false) };
}

/// Keeps the panics of fuzz inputs quiet, and every other panic as loud as before (the hook is
/// global: tests on other threads keep their messages).
fn quiet_fuzz_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !FUZZING.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// One thing to fuzz.
pub struct Target {
    pub name: &'static str,
    /// Valid examples to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens of the format, inserted whole.
    pub dictionary: &'static [&'static str],
    /// Runs one input. It must not panic, whatever the bytes.
    pub run: fn(&[u8]),
}

/// xorshift64*: enough for picking mutations, and reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes that delimit or mean something in the formats fuzzed here.
const SPECIAL: &[u8] = b"\0\r\n\"\\{}[]:,.-+$*%_=;&?#/ \t\xff\x7f019eE";

/// `input` changed by one to four mutations, some of which borrow from `others`.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>], dictionary: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = SPECIAL[rng.below(SPECIAL.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next_u64() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                out.drain(at..end);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                let chunk = out[at..end].to_vec();
                for _ in 0..=rng.below(3) {
                    out.splice(at..at, chunk.iter().copied());
                }
            }
            5 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                let at = rng.below(len + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..to]);
            }
            6 if len > 0 => out.truncate(rng.below(len)),
            7 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())].as_bytes();
                let at = rng.below(len + 1);
                out.splice(at..at, token.iter().copied());
            }
            8 if len > 0 => {
                // A run of digits, for lengths and numbers.
                let at = rng.below(len + 1);
                let digits = [
                    "0",
                    "-1",
                    "18446744073709551616",
                    "9999999999",
                    "1e999",
                    "00",
                ];
                let d = digits[rng.below(digits.len())].as_bytes();
                out.splice(at..at, d.iter().copied());
            }
            _ => {
                let i = rng.below(len + 1);
                out.insert(i, SPECIAL[rng.below(SPECIAL.len())]);
            }
        }
    }
    out
}

/// What a run found.
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    /// Each panic's message and the input (first few only).
    pub panics: Vec<(String, Vec<u8>)>,
    pub panic_count: u64,
    pub slowest: Duration,
}

/// Runs `inputs` inputs through `target` (the seeds first, unchanged), from generator `seed`.
pub fn run(target: &Target, inputs: u64, seed: u64) -> Report {
    let seeds = (target.seeds)();
    let mut rng = Rng::new(seed);
    // Recent inputs, so that mutations can stack over several steps.
    let mut recent: Vec<Vec<u8>> = Vec::new();
    let mut report = Report {
        target: target.name,
        inputs: 0,
        elapsed: Duration::ZERO,
        panics: Vec::new(),
        panic_count: 0,
        slowest: Duration::ZERO,
    };
    quiet_fuzz_panics();
    FUZZING.with(|f| f.set(true));
    let start = Instant::now();
    for n in 0..inputs {
        let input = match seeds.get(n as usize) {
            Some(seed) => seed.clone(),
            None => {
                let base = if recent.is_empty() || rng.below(2) == 0 {
                    &seeds[rng.below(seeds.len())]
                } else {
                    &recent[rng.below(recent.len())]
                };
                mutate(&mut rng, base, &seeds, target.dictionary)
            }
        };
        let one = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        report.slowest = report.slowest.max(one.elapsed());
        if let Err(payload) = outcome {
            report.panic_count += 1;
            if report.panics.len() < 5 {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                report.panics.push((message, input.clone()));
            }
        }
        if recent.len() < 256 {
            recent.push(input);
        } else {
            let i = rng.below(recent.len());
            recent[i] = input;
        }
        report.inputs += 1;
    }
    report.elapsed = start.elapsed();
    FUZZING.with(|f| f.set(false));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_change_inputs_and_are_reproducible() {
        let seeds = vec![b"+OK\r\n".to_vec(), b":1\r\n".to_vec()];
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let mut changed = 0;
        for _ in 0..100 {
            let x = mutate(&mut a, &seeds[0], &seeds, &["$-1\r\n"]);
            let y = mutate(&mut b, &seeds[0], &seeds, &["$-1\r\n"]);
            assert_eq!(x, y);
            changed += usize::from(x != seeds[0]);
        }
        assert!(changed > 80, "{changed}");
    }

    #[test]
    fn a_panic_is_caught_and_kept_with_its_input() {
        let target = Target {
            name: "panics-on-x",
            seeds: || vec![b"ab".to_vec()],
            dictionary: &["x"],
            run: |input| assert!(!input.contains(&b'x'), "found x"),
        };
        let report = run(&target, 2_000, 1);
        assert_eq!(report.inputs, 2_000);
        assert!(report.panic_count > 0);
        let (message, input) = &report.panics[0];
        assert_eq!(message, "found x");
        assert!(input.contains(&b'x'));
    }
}
