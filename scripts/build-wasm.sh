#!/usr/bin/env bash
# Builds every filter in filters/ for wasm32-wasip1 (release profile: LTO, opt-level 2, wasm-opt) into dist/, each as
# redis-<feature>.wasm. The std for wasm32 is built from Debian's rust-web-src (-Zbuild-std):
# rustup cannot install a wasm32 std on these machines.
# Usage: scripts/build-wasm.sh [OUT_DIR]
#        scripts/build-wasm.sh --test-filters [OUT_DIR]   (the harness' test filters, named by folder;
#                                                          default target-wasm/test-filters)
#        scripts/build-wasm.sh --higress-check    (the tests' check that the shared library also
#                                                  builds for Higress' proxy_redis_call transport)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh
target_dir=${WASM_TARGET_DIR:-$root/target-wasm}
test_filters=0
wasm_cargo() {
  RUSTC_BOOTSTRAP=1 cargo "$@" -Zbuild-std=std,panic_abort --target wasm32-wasip1 \
    --release --target-dir "$target_dir"
}

if [ "${1:-}" = "--higress-check" ]; then
  echo "wasm build: the shared library with --features higress (no filter uses it)"
  wasm_cargo build -p redis-filter-core --features higress
  exit 0
elif [ "${1:-}" = "--test-filters" ]; then
  test_filters=1
  shift
  out=${1:-$target_dir/test-filters}
else
  out=${1:-$root/dist}
fi
mkdir -p "$out"

if [ $test_filters = 1 ]; then
  manifests=(wasm-test-harness/test-filters/*/Cargo.toml)
  what="the harness' test filters"
else
  manifests=(filters/*/Cargo.toml)
  what="the filters"
fi
# Each package's name, and the file it becomes in $out.
packages=()
dests=()
for manifest in "${manifests[@]}"; do
  [ -e "$manifest" ] || continue
  package=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  packages+=("$package")
  if [ $test_filters = 1 ]; then
    dests+=("$out/$(basename "$(dirname "$manifest")").wasm")
  else
    dests+=("$out/$package.wasm")
  fi
done
# One cargo run for all of them: the shared library and the dependencies are built once and
# the filters' link-time optimisation (one codegen unit each) runs side by side on every core.
echo "wasm build: ${#packages[@]} packages, $what: ${packages[*]}"
echo "wasm build: (the first build also compiles Rust's std for wasm32-wasip1: minutes)"
# redis-chain links the other filters in without their own entry points (their `module`
# feature off): built in the same run, cargo would unify that feature on and the module would
# define `_initialize` six times. It gets a run of its own after the others (which reuses
# everything but the filter crates).
own=()
for package in "${packages[@]}"; do
  [ "$package" = redis-chain ] || own+=("$package")
done
wasm_cargo build "${own[@]/#/--package=}"
if [ ${#own[@]} != ${#packages[@]} ]; then
  wasm_cargo build --package=redis-chain
fi

for i in "${!packages[@]}"; do
  artifact="$target_dir/wasm32-wasip1/release/${packages[$i]//-/_}.wasm"
  dest=${dests[$i]}
  if command -v wasm-opt >/dev/null; then
    wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int "$artifact" -o "$dest"
  else
    cp "$artifact" "$dest"
  fi
  printf 'built %s (%s bytes)\n' "$dest" "$(stat -c %s "$dest")"
done
echo "wasm build: ${#packages[@]} filter(s) in $out"
