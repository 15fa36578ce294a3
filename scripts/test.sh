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

# The demo's build of the harness and the CLI first: the tests must reuse it (same profile, same
# target/, same features), never compile wasmtime a second time.
step "harness and CLI (the demo's build)"
cargo build -p wasm-test-harness -p redis-filters
# The harness' test filters are wasm fixtures (built below), with no native tests; built natively
# they would turn on more features of shared dependencies and so rebuild wasmtime.
tests=(--workspace --exclude 'test-*')
reused() {
  local log=$1
  if grep -E '^ *Compiling (wasmtime|cranelift-codegen) ' "$log"; then
    echo "the tests compiled wasmtime again: a dependency's features differ from the demo's build" >&2
    echo "(compare cargo tree -p wasm-test-harness -e features with the workspace's)" >&2
    return 1
  fi
}

step "unit tests"
cargo test "${tests[@]}" --lib 2>&1 | tee "$root/target/unit-tests.log"
reused "$root/target/unit-tests.log"

step "wasm build"
bash scripts/build-wasm.sh
bash scripts/build-wasm.sh --test-filters
bash scripts/build-wasm.sh --higress-check

step "the Envoy dynamic module (dist/native)"
bash scripts/build-native.sh

step "integration tests"
# Each test that runs without a host or server this machine lacks adds a line here (see
# e2e_tests::skipped); they are counted last, so a green run says what it did not cover.
export E2E_SKIPS="$root/target/e2e-skips.txt"
: >"$E2E_SKIPS"
cargo test "${tests[@]}" --test '*' 2>&1 | tee "$root/target/e2e-tests.log"
reused "$root/target/e2e-tests.log"

step "the Envoy tests again, on the dynamic module (E2E_ENVOY_BUILD=native)"
# The same test code as above, with Envoy loading dist/native/libredis_filters.so instead of
# the .wasm files (tests/src/envoy.rs); the scenarios run on Envoy alone in this pass.
envoy_tests=()
for t in client_address cluster demo envoy identity jwt jwt_blacklist native_module proxy_cache \
  proxy_cache_topology rate_limiting redis_chain redis_tls security sentinel session; do
  envoy_tests+=(--test "$t")
done
E2E_ENVOY_BUILD=native cargo test -p e2e-tests "${envoy_tests[@]}" 2>&1 | tee "$root/target/e2e-native.log"

step "the module through Envoy's tunnel (REDIS_FILTERS_REDIS_PATH=tunnel)"
# The module reaches Redis over its own connections by default; its other path, the tunnel the
# Wasm filters use, with rate limiting across two Envoys and the cache's Hit across two.
REDIS_FILTERS_REDIS_PATH=tunnel E2E_ENVOY_BUILD=native cargo test -p e2e-tests --test rate_limiting \
  --test proxy_cache 2>&1 | tee "$root/target/e2e-native-tunnel.log"

step "skipped"
if [ -s "$E2E_SKIPS" ]; then
  # place, why, test: one line per place and reason, with how many tests it skipped.
  cut -f1,2 "$E2E_SKIPS" | sort | uniq -c | sed 's/\t/: /'
  echo "SKIPPED: $(wc -l <"$E2E_SKIPS") test runs (listed in $E2E_SKIPS)"
else
  echo "SKIPPED: none"
fi
