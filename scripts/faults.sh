#!/usr/bin/env bash
# The fault matrix (issue 19): every filter against Redis killed, paused, slow, behind a wrong
# password, full (`maxmemory`, `noeviction`) and turned into a replica, on the harness and in
# Envoy (HOSTS=harness,envoy,kong adds Kong's engine; FAULTS=killed,paused,... picks faults).
# Installs what it needs (scripts/setup.sh), builds the filters, and prints the Markdown table
# that docs/reliability.md shows. It starts its own Redis servers and gateways on free ports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >&2
source scripts/toolchain.sh
bash scripts/build-wasm.sh >&2
bash scripts/build-wasm.sh --test-filters >&2
cargo build -q -p e2e-tests --example fault_matrix
exec "$root/target/debug/examples/fault_matrix" --hosts "${HOSTS:-harness,envoy}" \
  --faults "${FAULTS:-killed,paused,slow,password,maxmemory,readonly}" 2>"$root/target/faults.log"
