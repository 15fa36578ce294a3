#!/usr/bin/env bash
# Builds a minimal dbless Kong 3.9.3 with Wasm from source trees (the bare git repositories the
# library's `fetch` leaves, one directory per <owner>+<name>), Debian packages and crates.io;
# nothing is downloaded from anywhere else. docs/kong-from-source.md says what each step does
# and where it stands.
#
#   bash scripts/kong-from-source.sh --sources /work/.mirror [--prefix DIR] [--work DIR] [STEP...]
#
# STEP: openresty (1: the patched bundle and LuaJIT), nginx (2: Kong's modules, Wasmtime,
# ngx_wasm_module, OpenResty built and installed), rocks (3: Kong's Lua and its rocks),
# start (4: `kong start` dbless, one request, `kong stop`). Default: all four, in order.
# A finished step is skipped on the next run; --force runs it again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SOURCES="" PREFIX="$ROOT/target/kong" WORK="$ROOT/target/kong-build" FORCE="" STEPS=()
JOBS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --sources) SOURCES=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    openresty|nginx|rocks|start) STEPS+=("$1"); shift ;;
    *) echo "usage: $0 --sources DIR [--prefix DIR] [--work DIR] [--force] [openresty|nginx|rocks|start]..." >&2; exit 2 ;;
  esac
done
[ ${#STEPS[@]} -gt 0 ] || STEPS=(openresty nginx rocks start)
[ -n "$SOURCES" ] || { echo "--sources DIR is required (where fetch left the repositories)" >&2; exit 2; }
SOURCES=$(cd "$SOURCES" && pwd)
mkdir -p "$PREFIX" "$WORK/logs" && PREFIX=$(cd "$PREFIX" && pwd) WORK=$(cd "$WORK" && pwd)

for f in lib wasmtime openresty nginx aws ffi-libs rocks start; do
  # shellcheck source=/dev/null
  . "$HERE/kong-from-source/$f.sh"
done
# shellcheck source=toolchain.sh
. "$HERE/toolchain.sh"
debian_packages

for step in "${STEPS[@]}"; do
  if stamped "$step"; then say "$step: done before (--force to redo)"; continue; fi
  case "$step" in
    openresty) openresty_tree && build_luajit ;;
    nginx) build_nginx ;;
    rocks) install_rocks ;;
    start) start_kong ;;
  esac
  stamp "$step"
done
say "Kong 3.9.3 is in $PREFIX (bin/kong); the tests find it with KONG_PREFIX=$PREFIX"
