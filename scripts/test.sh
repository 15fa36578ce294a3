#!/usr/bin/env bash
# The project's test command: installs what is missing, then format check, clippy, unit tests,
# the wasm build, and the end-to-end tests (which start their own servers on free ports).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
source scripts/toolchain.sh
# No incremental state: CI builds once, and it only costs disk.
export CARGO_INCREMENTAL=0

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p redis-filter-core --all-targets --all-features -- -D warnings

step "unit tests"
cargo test --workspace --lib

step "wasm build"
bash scripts/build-wasm.sh
bash scripts/build-wasm.sh --test-filters

step "integration tests"
cargo test --workspace --test '*'
