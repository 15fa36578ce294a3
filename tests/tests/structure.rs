//! The structure drawn from the imports has no circles: within each crate, the modules a file
//! names (`crate::a::b`, `super::c`) never lead back to it. A type two modules both need lives
//! below both (docs/architecture.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b/mod.rs` and `a/b.rs` are module `a::b`; `lib.rs` and `main.rs` are the crate root.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Identifiers after `prefix` in `text`: `crate::a::b` -> ["a", "b"].
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: Vec<String> = rest
            .split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .take(2)
            .collect();
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !f.to_string_lossy().ends_with("_tests.rs"))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut g = BTreeMap::new();
    for file in &files {
        let me = module_of(root, file);
        let text = std::fs::read_to_string(file).unwrap();
        // A file's own unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut deps = BTreeSet::new();
        let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
        let named = paths_after(text, "crate::").into_iter().chain(
            paths_after(text, "super::").into_iter().map(|p| {
                let mut full = parent.clone();
                full.extend(p);
                full
            }),
        );
        for mut path in named {
            while !path.is_empty() && !modules.contains(&path) {
                path.pop();
            }
            let inside = path.len() <= me.len() && me[..path.len()] == path[..];
            if !path.is_empty() && !inside {
                deps.insert(path.join("::"));
            }
        }
        g.insert(me.join("::"), deps);
    }
    g
}

fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut c = stack[from..].to_vec();
                    c.push(next.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, next, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in g.keys() {
        if !state.contains_key(node) {
            if let Some(c) = visit(g, node, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The source directory of every library and binary of every crate of the workspace, from
/// `cargo metadata` (so a crate added later is checked without being listed here).
fn crate_dirs() -> BTreeSet<PathBuf> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut dirs = BTreeSet::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            let built = kinds
                .iter()
                .any(|k| matches!(*k, "lib" | "rlib" | "cdylib" | "staticlib" | "bin"));
            if let (true, Some(src)) = (built, target["src_path"].as_str()) {
                dirs.insert(Path::new(src).parent().unwrap().to_path_buf());
            }
        }
    }
    dirs
}

#[test]
fn no_module_imports_lead_back_to_themselves() {
    let dirs = crate_dirs();
    assert!(dirs.len() >= 15, "the workspace's crates: {dirs:?}");
    let mut circles = Vec::new();
    for dir in &dirs {
        if let Some(c) = cycle(&graph(dir)) {
            circles.push(format!("{}: {}", dir.display(), c.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "modules import each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn a_circle_is_found() {
    let dir = e2e_tests::harness::TempDir::new("structure");
    let src = dir.0.join("src");
    std::fs::create_dir_all(src.join("p")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod x;\nmod y;\nmod p;\n").unwrap();
    std::fs::write(src.join("x.rs"), "use crate::y::Thing;\n").unwrap();
    std::fs::write(src.join("y.rs"), "use crate::p::q::Other;\n").unwrap();
    std::fs::write(src.join("p/mod.rs"), "mod q;\n").unwrap();
    std::fs::write(
        src.join("p/q.rs"),
        "use crate::x;\n#[cfg(test)]\nuse crate::y;\n",
    )
    .unwrap();
    let c = cycle(&graph(&src)).expect("x -> y -> p::q -> x");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
}
