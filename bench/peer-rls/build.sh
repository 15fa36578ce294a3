#!/usr/bin/env bash
# Builds peer-rls in DIR (a copy of this crate, so the lock file here is not touched), with one
# fix to limitador made at build time in a copy of its published source: its Redis storage uses
# the binary counter keys (storage/keys.rs, module `bin`, and `Counter::variables_for_key`) that
# the crate compiles only with its `disk_storage` feature, so `redis_storage` alone does not build (0.10 to 0.14). Turning on
# `disk_storage` instead would compile RocksDB from C++. Limitador's own builds have both features,
# so the code that runs is theirs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
mkdir -p "$dir"
# A copy that matches this crate and holds the patched limitador is kept, so that cargo finds
# nothing to rebuild on later runs.
if [ -f "$dir/limitador/.patched" ] && diff -rq --exclude build.sh "$here" "$dir/crate" >/dev/null 2>&1; then
  exec env touch "$dir/limitador/.patched"
RUSTFLAGS=-Awarnings CARGO_TARGET_DIR="$dir/target" cargo build -q --release --manifest-path "$dir/crate/Cargo.toml" \
    --config "patch.crates-io.limitador.path='$dir/limitador'"
fi
rm -rf "$dir/crate" "$dir/limitador"
cp -r "$here" "$dir/crate"
rm -f "$dir/crate/build.sh"
cargo fetch --manifest-path "$dir/crate/Cargo.toml" -q
src=$(cargo metadata --format-version 1 --manifest-path "$dir/crate/Cargo.toml" |
  python3 -c 'import json, os, sys; m = json.load(sys.stdin); print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "limitador"))')
cp -r "$src" "$dir/limitador"
chmod -R u+w "$dir/limitador"
# The module and the one method of Counter it calls.
for file in src/storage/keys.rs src/counter.rs; do
  grep -q '#\[cfg(feature = "disk_storage")\]$' "$dir/limitador/$file"
  sed -i 's/#\[cfg(feature = "disk_storage")\]$/#[cfg(any(feature = "disk_storage", feature = "redis_storage"))]/' \
    "$dir/limitador/$file"
done
touch "$dir/limitador/.patched"
RUSTFLAGS=-Awarnings CARGO_TARGET_DIR="$dir/target" cargo build -q --release --manifest-path "$dir/crate/Cargo.toml" \
  --config "patch.crates-io.limitador.path='$dir/limitador'"
