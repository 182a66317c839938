#!/usr/bin/env bash
# The Admin service under load, end to end (the product's "an admin RPC hot-swaps the pruned
# model in without dropping requests"): mamba-server serves a random-weight model; while
# `mamba-cli bench` keeps CONCURRENCY streams busy, Admin.PruneModel calibrates the served model
# on a real text, prunes RATIO of its SSM states (compacted) and hosts the result as the
# "compacted" variant; then, with streams running on "compacted", Admin.LoadModel hot-swaps that
# variant. Reports every bench (failed requests must be 0), the prune and load timings, and
# the dense vs compacted TPOT at the server.
#
# Needs a build with gRPC (scripts/gpu_server_bench.sh with STOP_AFTER_BUILD=1 makes one; this
# script reuses BUILD_DIR and the unpacked Debian packages in DEPS_DIR).
#   scripts/gpu_admin_swap.sh                        # on the GPU machine; results in $OUT
# Dry run on a CPU machine with an existing build:
#   DEVICE=cpu DTYPE=fp32 PRESET=tiny BUILD_DIR=build CONCURRENCY=4 OUTPUT_TOKENS=32 \
#     SECONDS_PER_PHASE=4 scripts/gpu_admin_swap.sh
#
# Environment (defaults in brackets): DEVICE [cuda] DTYPE [bf16] PRESET [130m] SLOTS [64]
#   CONCURRENCY [64] PROMPT_TOKENS [64] OUTPUT_TOKENS [128] RATIO [0.5] SECONDS_PER_PHASE [10]
#   CAL_TOKENS [4096] BUILD_DIR [/tmp/mamba-gpu-server-build] DEPS_DIR [/tmp/deps]
#   PORT [50561] ADMIN_PORT [50562] METRICS_PORT [9461] OUT [bench/results/admin-swap-DATE]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bf16}
PRESET=${PRESET:-130m}
SLOTS=${SLOTS:-64}
C=${CONCURRENCY:-64}
PROMPT_TOKENS=${PROMPT_TOKENS:-64}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-128}
RATIO=${RATIO:-0.5}
SECS=${SECONDS_PER_PHASE:-10}
CAL_TOKENS=${CAL_TOKENS:-4096}
BUILD_DIR=${BUILD_DIR:-/tmp/mamba-gpu-server-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
D=${DEPS_DIR:-/tmp/deps}
PORT=${PORT:-50561}
ADMIN_PORT=${ADMIN_PORT:-50562}
METRICS_PORT=${METRICS_PORT:-9461}
OUT=${OUT:-$ROOT/bench/results/admin-swap-$(date -u +%F)}
mkdir -p "$OUT"
if [ -d "$D/usr/lib/x86_64-linux-gnu" ]; then
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [ -f "$ROOT/scripts/env.sh" ] && [ -d "$ROOT/.deps/venv" ]; then source "$ROOT/scripts/env.sh"; fi
SERVER=$BUILD_DIR/server/app/mamba-server
CLI=$BUILD_DIR/client/mamba-cli
TOOL=$BUILD_DIR/tools/mamba-tool
T_START=$(date +%s)
die() { echo "gpu_admin_swap: FAILED: $*" >&2; exit 1; }
phase() { echo "== [$(( $(date +%s) - T_START ))s] $*"; }
for b in "$SERVER" "$CLI" "$TOOL"; do [ -x "$b" ] || die "missing $b (build first)"; done

MODEL=$OUT/model-$PRESET
WORK=$(mktemp -d /tmp/mamba-admin-swap.XXXXXX)
PRUNED=$WORK/pruned-r$RATIO
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK" "$MODEL"
}
trap cleanup EXIT

phase "random $PRESET model ($DTYPE) with the reference model's tokenizer"
"$TOOL" make-model --preset "$PRESET" --random --seed 0 --dtype "$DTYPE" --out "$MODEL" >/dev/null
cp models/mamba2-ref/tokenizer.json "$MODEL/tokenizer.json"

phase "start mamba-server on $DEVICE ($SLOTS slots), admin on 127.0.0.1:$ADMIN_PORT"
TARGET=127.0.0.1:$PORT
ADMIN=127.0.0.1:$ADMIN_PORT
"$SERVER" --model "$MODEL" --name m --device "$DEVICE" --dtype "$DTYPE" --slots "$SLOTS" --max-batch "$SLOTS" \
  --max-queued 4096 --listen "$TARGET" --admin-listen "$ADMIN" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  --drain-timeout 5 >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$OUT/server.log"; die "server exited"; }
  if "$CLI" --target "$TARGET" --timeout 2 health >/dev/null 2>&1; then break; fi
  sleep 0.5
done

# bench NAME VARIANT [extra args]: one bench run with its report in $OUT/NAME.{txt,json}.
bench() {
  local name=$1 variant=$2; shift 2
  "$CLI" --target "$TARGET" --timeout 600 bench -c "$C" --prompt-tokens "$PROMPT_TOKENS" \
    --output-tokens "$OUTPUT_TOKENS" -t 0 --seed 1 --variant "$variant" --json "$OUT/$name.json" "$@" \
    >"$OUT/$name.txt" 2>&1
}

# under_load NAME VARIANT DELAY RESULT ADMIN_ARGS...: a bench of 2 x SECS on VARIANT and, DELAY
# seconds into it, one admin call (its reply in $OUT/RESULT.json); dies if the call or any
# request of the bench fails.
under_load() {
  local name=$1 variant=$2 delay=$3 result=$4; shift 4
  bench "$name" "$variant" -r 0 -d $(( SECS * 2 )) & local pid=$!
  sleep "$delay"
  "$CLI" --timeout 600 admin --admin-target "$ADMIN" "$@" >"$OUT/$result.json" 2>&1 || {
    cat "$OUT/$result.json"; die "admin $1"; }
  wait "$pid" || die "bench $name failed requests"
}

phase "warm-up dense (c=$C, graphs captured on first use)"
bench warmup_dense dense -r $(( C * 3 )) || die "warm-up"
phase "A: dense, ${SECS}s"
bench a_dense dense -r 0 -d "$SECS" || die "bench A"

phase "B: prune r=$RATIO (calibrate $CAL_TOKENS tokens on $DEVICE) while dense serves c=$C"
under_load b_dense_during_prune dense 2 prune prune --model m --ratio "$RATIO" \
  --calibration-text tests/data/wikitext2_heldout_4k.txt --calibration-tokens "$CAL_TOKENS" \
  --calibration-context 512 --calibration-batch 8 --out "$PRUNED"

phase "warm-up compacted"
bench warmup_compacted compacted -r $(( C * 3 )) || die "warm-up compacted"
phase "C: compacted, ${SECS}s"
bench c_compacted compacted -r 0 -d "$SECS" || die "bench C"

phase "D: hot swap of the compacted variant while it serves c=$C"
under_load d_compacted_during_swap compacted $(( SECS / 2 )) swap load --model m --variant compacted --path "$PRUNED"

python3 - "$METRICS_PORT" "$OUT/metrics.txt" <<'EOF' || echo "   (could not scrape /metrics)"
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5) as r:
    open(sys.argv[2], "wb").write(r.read())
EOF
cp "$PRUNED/pruning.json" "$OUT/pruning.json" 2>/dev/null || true

python3 - "$OUT" "$DEVICE" "$DTYPE" "$PRESET" "$C" "$RATIO" <<'EOF' | tee "$OUT/summary.md"
import json, sys, os
out, device, dtype, preset, c, ratio = sys.argv[1:]
def j(name): return json.load(open(os.path.join(out, name + ".json")))
print(f"# Admin under load: {preset} {dtype} on {device}, c = {c}, prune r = {ratio}\n")
print("| phase | variant | requests ok | failed | output tok/s | TPOT p50 ms | TPOT p99 ms | TTFT p50 ms | TTFT p99 ms |")
print("|---|---|---|---|---|---|---|---|---|")
for name, label in [("a_dense", "A dense"), ("b_dense_during_prune", "B dense, prune running"),
                    ("c_compacted", "C compacted"), ("d_compacted_during_swap", "D compacted, hot swap")]:
    r = j(name)
    ms = lambda s, q: 1e3 * r[s][q]
    print(f"| {label} | {r['variant']} | {r['succeeded']} | {r['failed']} | {r['output_tokens_per_second']:.0f} | "
          f"{ms('tpot_seconds','p50'):.3f} | {ms('tpot_seconds','p99'):.3f} | {ms('ttft_seconds','p50'):.2f} | {ms('ttft_seconds','p99'):.2f} |")
p, s = j("prune"), j("swap")
print(f"\nPrune: calibration {p['calibration_seconds']:.2f} s over {p['calibration_tokens']} tokens, surgery and "
      f"write {p['surgery_seconds']:.2f} s, load {p['load']['load_seconds']:.2f} s; state sizes "
      f"{p['state_sizes_before'][0]} -> {p['state_sizes'][0]}; state bytes per sequence "
      f"{p['state_bytes_per_sequence_before']} -> {p['state_bytes_per_sequence']} (fp32).")
print(f"Hot swap: load {s['load_seconds']:.2f} s, replaced = {s.get('replaced', False)}.")
a, cc = j("a_dense"), j("c_compacted")
print(f"Compacted over dense at the server: TPOT p50 {a['tpot_seconds']['p50'] / cc['tpot_seconds']['p50']:.3f}x, "
      f"output tok/s {cc['output_tokens_per_second'] / a['output_tokens_per_second']:.3f}x.")
EOF
phase "done"
