#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole CPU test suite (GPU tests carry the
# label `gpu` and are excluded here; run them on the GPU machine with scripts/gpu_test.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT/build"
ctest --output-on-failure -j"$(nproc)" -LE gpu --timeout 600 "$@"
