#!/usr/bin/env bash
# On the GPU machine, after scripts/gpu_test.sh built mamba-bench: the issue-6 benchmark (dense
# 130m and 2.7b shapes) and the issue-5 efficiency table (compacted N' for r = 0.1..0.9, bf16
# state; COMPACTED_SIZES="..." and SKIP_2_7B=1 narrow the set). Writes JSON + markdown into RESULTS (default bench/results/tmp) and, when the device
# tool's $OUT is set, one archive $OUT/gpu_bench.tgz of them. Usage: scripts/gpu_bench.sh [tag]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-/tmp/mamba-gpu-build}
O=${RESULTS:-$ROOT/bench/results/tmp}
mkdir -p "$O"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
D=$(date +%Y-%m-%d)
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -oE '[AHB][0-9]{2,3}' | head -1 | tr 'A-Z' 'a-z')
TAG=${1:-${GPU:-gpu}_$D}
LABEL="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
bench() { local name=$1; shift; echo "== $name: $*"; local t0=$SECONDS
  "$B/bench/mamba-bench" --label "$LABEL" --json "$O/${TAG}_$name.json" --markdown "$O/${TAG}_$name.md" "$@" 2>&1 | grep -v '^[ {}\[\]"]' || true
  echo "   ($((SECONDS - t0)) s)"; }
# Issue 6: dense, with per-kernel decode breakdown and the largest pool that fits.
bench 130m_bf16 --preset 130m --dtype bf16 --breakdown --max-concurrency
bench 130m_bf16_state-bf16 --preset 130m --dtype bf16 --state-dtype bf16 --decode-batches 1,64,256 \
  --prefill-batches 1 --prefill-lens 64 --max-concurrency
# Issue 5: sparse-masked r = 0.5 and 0.9 (dense shapes, zeroed B/C channels) beside dense.
for R in 0.5 0.9; do
  bench 130m_bf16_masked$R --preset 130m --dtype bf16 --masked-ratio $R --decode-batches 1,64,256 --prefill-batches 1
done
# Issue 5 (Table 2): compacted N' = floor(128 (1 - r)) for r = 0.1, 0.3, 0.5, 0.7, 0.9.
for N in ${COMPACTED_SIZES-115 89 64 38 12}; do
  bench 130m_bf16_N$N --preset 130m --dtype bf16 --state-size $N --decode-batches 1,64,256 \
    --prefill-batches 1,8 --max-concurrency --breakdown
done
# Issue 5 (Table 2) again, every variant in one process and interleaved (the speed-ups with
# their spread over rounds; separate processes differ by a few % from run to run).
if [ -x "$B/bench/mamba-variant-bench" ] && [ "${SKIP_VARIANTS:-0}" != 1 ]; then
  echo "== variants"
  "$B/bench/mamba-variant-bench" --preset 130m --dtype bf16 --label "$LABEL" --rounds "${ROUNDS:-5}" \
    --decode-batches 1,64,256 --prefill 1x64,1x2048,1x16384,8x16384 \
    --json "$O/${TAG}_variants.json" --markdown "$O/${TAG}_variants.md" > /dev/null || true
fi
[ "${SKIP_2_7B:-0}" = 1 ] || bench 2.7b_bf16 --preset 2.7b --dtype bf16 --decode-batches 1,64 --prefill-batches 1,8 --prefill-lens 64,2048,4096 --iters 5
ls -la "$O"
if [ -n "${OUT:-}" ]; then tar czf "$OUT/gpu_bench.tgz" -C "$O" .; fi
