#!/usr/bin/env bash
# Starts the main job on the built-in default model (models/mamba2-ref):
# mamba-server (gRPC on 127.0.0.1:50051, metrics on http://127.0.0.1:9400/metrics).
# Arguments are passed to mamba-server (e.g. --listen, --metrics-listen, --config).
# Without a server build (MAMBA_BUILD_SERVER=OFF) it runs `mamba-tool generate` instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"
if [ -x "$ROOT/build/server/app/mamba-server" ]; then
  exec "$ROOT/build/server/app/mamba-server" "$@"
fi
exec "$ROOT/build/tools/mamba-tool" generate "$ROOT/models/mamba2-ref" --prompt "ROMEO:" \
  --max-new-tokens 200 --temperature 0.8 --top-k 40 --seed 1
