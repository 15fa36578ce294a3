#!/usr/bin/env bash
# The main job: sets everything up and runs the demo. Until the first filter lands it installs
# the toolchain and builds the filters into dist/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build-wasm.sh
ls -l dist/
