# Wasmtime's C API as a static library, built from crates.io: Kong's build downloads
# wasmtime-v26.0.0-<arch>-linux-c-api.tar.xz, which is not reachable here; the crate
# wasmtime-c-api-impl is the same code. Output: $WORK/wasmtime-dist/{include,lib/libwasmtime.a}.

# The features Kong's prebuilt C API has that ngx_wasm_module uses; conf.h says the same.
WASMTIME_FEATURES="wasi cranelift cache parallel-compilation wat threads"

build_wasmtime() {
  local crate="$WORK/wasmtime-crate" dist="$WORK/wasmtime-dist" features flag
  features=$(printf '"%s", ' $WASMTIME_FEATURES)
  mkdir -p "$crate/src" "$crate/fakebin" "$dist/lib"
  cat >"$crate/Cargo.toml" <<TOML
[package]
name = "wasmtime-static"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["staticlib"]
path = "src/lib.rs"

[dependencies]
wasmtime-c-api = { package = "wasmtime-c-api-impl", version = "=$WASMTIME_VERSION", default-features = false, features = [${features%, }] }

[profile.release]
panic = "unwind"
opt-level = 2

[workspace]
TOML
  echo 'pub use wasmtime_c_api::*;' >"$crate/src/lib.rs"
  # The crate's build script runs cmake only to copy its headers; they are copied below.
  printf '#!/bin/sh\nexit 0\n' >"$crate/fakebin/cmake" && chmod +x "$crate/fakebin/cmake"
  say "wasmtime $WASMTIME_VERSION C API (cargo, release; about 10 minutes on 2 cores)"
  (cd "$crate" && PATH="$crate/fakebin:$PATH" cargo build --release --quiet) ||
    die "cargo build of wasmtime-c-api-impl $WASMTIME_VERSION failed"
  cp "$crate/target/release/libwasmtime_static.a" "$dist/lib/libwasmtime.a"

  local src
  src=$(cd "$crate" && cargo metadata --format-version 1 --quiet |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="wasmtime-c-api-impl"))')
  src=$(dirname "$src")
  rm -rf "$dist/include" && cp -r "$src/include" "$dist/include"
  # conf.h from conf.h.in, as cmake's configure_file would write it for these features.
  local defines=()
  for flag in $WASMTIME_FEATURES; do
    flag=$(printf '%s' "$flag" | tr 'a-z-' 'A-Z_')
    defines+=(-e "s/^#cmakedefine WASMTIME_FEATURE_$flag\$/#define WASMTIME_FEATURE_$flag/")
  done
  sed "${defines[@]}" -e 's|^#cmakedefine \(.*\)|/* #undef \1 */|' \
    "$dist/include/wasmtime/conf.h.in" >"$dist/include/wasmtime/conf.h"
  rm "$dist/include/wasmtime/conf.h.in"
}
