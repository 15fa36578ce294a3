//! The targets, one module per input family.

use crate::engine::Target;

mod configs;
mod jwt;
mod kong_yml;
mod proxy_cache;
mod resp;
mod session;
mod shared_table;

/// Every target.
pub fn all() -> Vec<Target> {
    let mut all = vec![resp::TARGET, resp::READERS];
    all.extend(configs::TARGETS);
    all.extend([
        jwt::TARGET,
        session::TARGET,
        proxy_cache::ENTRY,
        proxy_cache::KEY,
        kong_yml::TARGET,
        shared_table::TARGET,
    ]);
    all
}

/// Seeds given as text.
fn texts(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// The input as text, invalid UTF-8 replaced (the hosts hand the filters strings).
fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

#[cfg(test)]
mod tests {
    use crate::engine::run;

    /// Every target, a few thousand inputs each, on every test run: no panic.
    #[test]
    fn no_target_panics_on_its_bounded_run() {
        let inputs = std::env::var("FUZZ_TEST_INPUTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3_000);
        let mut failures = Vec::new();
        for target in super::all() {
            let report = run(&target, inputs, 0x5eed);
            for (message, input) in &report.panics {
                failures.push(format!(
                    "{}: {message} on {:?}",
                    target.name,
                    String::from_utf8_lossy(input)
                ));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = super::all().iter().map(|t| t.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
