#!/usr/bin/env bash
# Builds the filters as one Envoy dynamic module for this machine (native/, issue 33) and puts
# it where Envoy finds a module named `redis_filters`: OUT_DIR/libredis_filters.so (default
# dist/native; point ENVOY_DYNAMIC_MODULES_SEARCH_PATH there).
# Usage: scripts/build-native.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh
out=${1:-$root/dist/native}
cargo build -p redis-filters-native
mkdir -p "$out"
cp "$root/target/debug/libredis_filters_envoy.so" "$out/libredis_filters.so"
echo "built $out/libredis_filters.so ($(stat -c %s "$out/libredis_filters.so") bytes)"
