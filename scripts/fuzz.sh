#!/usr/bin/env bash
# Runs every fuzz target (fuzz/: the RESP decoder and each filter's reply readers, each filter's
# config, JWTs, session cookies, cached entries, cache-key inputs, the harness' kong.yml, what
# the tables read back from shared data) for INPUTS inputs each (10 million by default),
# optimised. Arguments name targets (`--list`); SEED changes the inputs. The tests run the same
# targets for a few thousand inputs each.
# Panicking inputs are saved under target/fuzz-out/fuzz-crashes/ and the script exits 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh
cargo build -q --profile native -p fuzz
mkdir -p target/fuzz-out
cd target/fuzz-out
exec "$root/target/native/fuzz" --inputs "${INPUTS:-10000000}" --seed "${SEED:-24301}" "$@"
