//! Unsigned integers in decimal without `core::fmt`: on the hot path of every request (counter
//! keys, header values, shared-data counters, command arguments) the formatting machinery was
//! about 5% of a request's guest time in wasmtime (bench/guest-profile.sh).

/// "00" to "99", for two digits per division (a 64-bit division is the slow part in Wasm).
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `n` in decimal, appended to `out`.
pub fn push(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        at -= 2;
        if let (Some(slot), Some(pair)) = (digits.get_mut(at..at + 2), PAIRS.get(pair..pair + 2)) {
            slot.copy_from_slice(pair);
        }
    }
    if rest >= 10 {
        let pair = rest as usize * 2;
        at -= 2;
        if let (Some(slot), Some(pair)) = (digits.get_mut(at..at + 2), PAIRS.get(pair..pair + 2)) {
            slot.copy_from_slice(pair);
        }
    } else {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + rest as u8;
        }
    }
    // Only ASCII digits were written: always UTF-8.
    if let Ok(text) = std::str::from_utf8(digits.get(at..).unwrap_or_default()) {
        out.push_str(text);
    }
}

/// `n` in decimal.
pub fn string(n: u64) -> String {
    let mut out = String::with_capacity(20);
    push(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_display() {
        for n in [
            0,
            1,
            9,
            10,
            11,
            99,
            100,
            101,
            999,
            1000,
            1_709_214_300_000,
            u64::MAX,
        ] {
            assert_eq!(string(n), n.to_string());
        }
        let mut s = String::from("k:");
        push(&mut s, 42);
        assert_eq!(s, "k:42");
    }
}
