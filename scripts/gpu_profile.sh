#!/usr/bin/env bash
# On the GPU machine: per-kernel device time of the engine's prefill and decode, read with
# Nsight Compute (one metric, clocks left alone as the device README asks). Builds mamba-bench
# (scripts/gpu_test.sh with TARGETS=mamba-bench), then profiles one mamba-bench run and writes
# the per-kernel summary and the raw CSV into $OUT (or bench/results/tmp).
# Environment: PROFILE_CASES (mamba-bench arguments per case, ";"-separated), LAUNCH_COUNT [4000;
# set empty: every launch], SKIP_BUILD=1 profiles an existing BUILD_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-/tmp/mamba-gpu-build}
O=${OUT:-$ROOT/bench/results/tmp}
mkdir -p "$O"
[ "${SKIP_BUILD:-0}" = 1 ] || TARGETS=mamba-bench SKIP_TESTS=1 BUILD_DIR=$B bash "$ROOT/scripts/gpu_test.sh"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
# One mamba-bench run per case (";"-separated), so each CSV holds one phase.
IFS=';' read -ra CASES <<< "${PROFILE_CASES:-\
--decode-batches 1 --prefill-batches 1 --prefill-lens 64;\
--decode-batches 64 --prefill-batches 1 --prefill-lens 16384;\
--decode-batches 1 --prefill-batches 8 --prefill-lens 2048}"
launches=()
[ -n "${LAUNCH_COUNT-4000}" ] && launches=(--launch-count "${LAUNCH_COUNT-4000}")
i=0
for c in "${CASES[@]}"; do
  i=$((i + 1))
  echo "== case $i: $c" | tee -a "$O/ncu_summary.txt"
  # shellcheck disable=SC2086
  "$NCU" --clock-control none --metrics gpu__time_duration.sum "${launches[@]}" \
    --csv --log-file "$O/ncu_case$i.csv" "$B/bench/mamba-bench" --preset 130m --dtype bf16 --iters 1 $c \
    > "$O/bench_case$i.txt" 2>&1 || true
  python3 "$ROOT/scripts/ncu_summary.py" "$O/ncu_case$i.csv" | tee -a "$O/ncu_summary.txt"
done
