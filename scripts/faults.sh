#!/usr/bin/env bash
# The fault matrix (issue 19): every filter against Redis killed, paused, slow, behind a wrong
# password, full (`maxmemory`, `noeviction`) and turned into a replica, and against the tunnel
# gone (`tunnel`: Kong's bridge stopped, then started again; on the harness and in Envoy the
# tunnel is part of the gateway's process, so their rows say "not applicable"), on the harness
# and in Envoy (HOSTS=harness,envoy,kong adds Kong's engine; FAULTS=killed,paused,... picks
# faults; FAULTS=cluster runs the Cluster master gone, not run by default). With
# E2E_ENVOY_BUILD=native Envoy runs the filters as the dynamic module (dist/native).
# Installs what it needs (scripts/setup.sh), builds the filters, and prints the Markdown table
# that docs/reliability.md shows. It starts its own Redis servers and gateways on free ports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >&2
source scripts/toolchain.sh
bash scripts/build-wasm.sh >&2
bash scripts/build-wasm.sh --test-filters >&2
if [ "${E2E_ENVOY_BUILD:-}" = native ]; then bash scripts/build-native.sh >&2; fi
cargo build -q -p e2e-tests --example fault_matrix
exec "$root/target/debug/examples/fault_matrix" --hosts "${HOSTS:-harness,envoy}" \
  --faults "${FAULTS:-killed,paused,slow,password,maxmemory,readonly,tunnel}" 2>"$root/target/faults.log"
