#!/usr/bin/env bash
# Builds the filters as one Envoy dynamic module for this machine (native/, issue 33) and puts
# it where Envoy finds a module named `redis_filters`: OUT_DIR/libredis_filters.so (default
# dist/native; point ENVOY_DYNAMIC_MODULES_SEARCH_PATH there).
# Usage: scripts/build-native.sh [--release] [OUT_DIR]
#   --release: optimised (the `native` profile: opt-level 3, panics unwind so that every hook's
#   catch_unwind holds), for production and the benchmarks; else the debug build the tests use.
# The file is replaced by a rename, never rewritten in place: an Envoy running the old module
# keeps its mapping intact.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh
profile=dev built="$root/target/debug"
if [ "${1:-}" = "--release" ]; then
  profile=native built="$root/target/native"
  shift
fi
out=${1:-$root/dist/native}
cargo build --profile "$profile" -p redis-filters-native
mkdir -p "$out"
cp "$built/libredis_filters_envoy.so" "$out/.libredis_filters.so.new"
mv -f "$out/.libredis_filters.so.new" "$out/libredis_filters.so"
echo "built $out/libredis_filters.so ($profile, $(stat -c %s "$out/libredis_filters.so") bytes)"
