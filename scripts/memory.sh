#!/usr/bin/env bash
# The memory bounds (issue 19): every filter fed COUNT (100,000) distinct identifiers, cache
# keys, sessions or tokens, on the harness, in Envoy and in Kong's engine
# (HOSTS=harness,envoy,kong; CASES=rl-local,... picks cases), with the filter's Wasm memory
# (harness, Envoy), the shared data (harness) and the gateway's resident memory (Envoy, Kong)
# read as the count goes up. Installs what it needs (scripts/setup.sh), builds the filters, and
# prints the Markdown table that docs/reliability.md shows. It starts its own Redis servers and
# gateways on free ports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >&2
source scripts/toolchain.sh
bash scripts/build-wasm.sh >&2
bash scripts/build-wasm.sh --test-filters >&2
cargo build -q --profile native -p e2e-tests --example memory_bounds
args=(--hosts "${HOSTS:-harness,envoy,kong}" --count "${COUNT:-100000}")
[ -n "${CASES:-}" ] && args+=(--cases "$CASES")
exec "$root/target/native/examples/memory_bounds" "${args[@]}" 2>"$root/target/memory.log"
