#!/usr/bin/env bash
# On the GPU machine, one call: build the GPU test and bench targets, run every GPU-labelled
# test, then time the given mamba-bench cases. For validating a change and measuring it in the
# same (short) device lease; the full tables come from scripts/gpu_bench.sh.
# Environment (defaults in brackets):
#   BUILD_DIR [/tmp/mamba-gpu-build]; OUT [the device tool's $OUT, else bench/results/tmp]
#   CASES: ";"-separated mamba-bench argument lists (default below). Each gets --preset 130m
#     --dtype bf16 unless it names a --preset; leading NAME=value words set that case's
#     environment ("MAMBA_DISABLE_PDL=1 --decode-batches 1" for an A/B in one call).
#   NCU_CASES: the same form (no environment words); each is profiled per kernel with Nsight Compute
#     by scripts/gpu_profile.sh (every launch), into OUT/ncu.
#   NCU_DETAIL: "KERNEL_REGEX|mamba-bench args": speed-of-light, memory, occupancy and
#     warp-state sections of two launches of the matching kernels, and the source-level stall
#     hot spots (scripts/ncu_source_hotspots.py).
#   VARIANTS: mamba-variant-bench arguments (dense/masked/compacted in interleaved rounds).
#   SSD_TRACE: ";"-separated bench/ssd-phase-trace argument lists ("" = its default, the 130m
#     layer at 8 x 16384): cycles per phase of a chunk of the prefill SSD walk.
#   CTEST_ARGS [-L gpu]; SKIP_TESTS=1 skips the tests. CASE_TIMEOUT [300]: seconds per case.
#   SERVER=1: build with gRPC (scripts/gpu_server_bench.sh, tests included) and end with the
#     server end-to-end bench for each of SERVER_MODES ["true false"] (pipelined decode on /
#     off), at SERVER_CONCURRENCY ["1 16 64"] for "true" and "1 16" for "false".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-/tmp/mamba-gpu-build}
O=${OUT:-$ROOT/bench/results/tmp}
mkdir -p "$O"
t0=$SECONDS
if [ "${SERVER:-0}" = 1 ]; then
  if ! BUILD_TESTS=1 STOP_AFTER_BUILD=1 BUILD_DIR=$B OUT=$O/server_build \
      bash "$ROOT/scripts/gpu_server_bench.sh" > "$O/build.log" 2>&1; then
    tail -40 "$O/build.log"; exit 1
  fi
elif ! TARGETS="kernel_tests model_gpu_tests model_tests engine_gpu_tests mamba-bench mamba-variant-bench ssd-phase-trace" \
    SKIP_TESTS=1 BUILD_DIR=$B bash "$ROOT/scripts/gpu_test.sh" > "$O/build.log" 2>&1; then
  tail -40 "$O/build.log"; exit 1
fi
echo "build: $((SECONDS - t0)) s"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  (cd "$B" && ctest ${CTEST_ARGS:--L gpu} -j3 --output-on-failure > "$O/ctest_gpu.log" 2>&1)
  grep -E "tests passed|Failed|\*\*\*" "$O/ctest_gpu.log" | head -20
  echo "tests: $((SECONDS - t0)) s"
fi
run_case() {  # name, [NAME=value ...] args... (leading assignments: the environment of that case)
  local name=$1; shift
  local envs=()
  while [[ $# -gt 0 && $1 =~ ^[A-Z_][A-Z0-9_]*= ]]; do envs+=("$1"); shift; done
  local preset=(--preset 130m --dtype bf16)
  [[ " $* " == *" --preset "* ]] && preset=()
  timeout "${CASE_TIMEOUT:-300}" env "${envs[@]}" "$B/bench/mamba-bench" "${preset[@]}" --json "$O/$name.json" --markdown "$O/$name.md" "$@" \
    > "$O/$name.txt" 2>&1 || tail -5 "$O/$name.txt"
  grep -vE "^\s*$" "$O/$name.md" 2>/dev/null | head -60
}
IFS=';' read -ra cases <<< "${CASES:---decode-batches 1,2,8,64 --prefill-batches 1 --prefill-lens 64,512 --breakdown}"
i=0
for c in "${cases[@]}"; do
  i=$((i + 1)); echo "== case $i: $c"
  # shellcheck disable=SC2086
  run_case "case$i" $c
done
if [ -n "${VARIANTS:-}" ]; then
  echo "== variants: $VARIANTS"
  # shellcheck disable=SC2086
  "$B/bench/mamba-variant-bench" $VARIANTS --json "$O/variants.json" --markdown "$O/variants.md" > "$O/variants.txt" 2>&1 \
    || tail -5 "$O/variants.txt"
  cat "$O/variants.md" 2>/dev/null
fi
if [ -n "${SSD_TRACE+set}" ]; then
  IFS=';' read -ra traces <<< "${SSD_TRACE:- }"
  for t in "${traces[@]}"; do
    echo "== ssd-phase-trace $t"
    # shellcheck disable=SC2086
    timeout "${CASE_TIMEOUT:-300}" "$B/bench/ssd-phase-trace" $t 2>&1 | tee -a "$O/ssd_phase_trace.txt"
  done
fi
if [ -n "${NCU_CASES:-}" ]; then  # per-kernel times (scripts/gpu_profile.sh, into $O/ncu)
  LAUNCH_COUNT= SKIP_BUILD=1 BUILD_DIR=$B OUT=$O/ncu PROFILE_CASES=$NCU_CASES bash "$ROOT/scripts/gpu_profile.sh" \
    > "$O/ncu.log" 2>&1 || tail -5 "$O/ncu.log"
  grep -A25 "^== case" "$O/ncu/ncu_summary.txt"
fi
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "${NCU_DETAIL:-}" ]; then
  echo "== ncu detail: $NCU_DETAIL"
  # shellcheck disable=SC2086
  "$NCU" --clock-control none -k "regex:${NCU_DETAIL%%|*}" --launch-skip 4 --launch-count 2 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats --section SourceCounters -o "$O/ncu_detail" -f \
    "$B/bench/mamba-bench" --preset 130m --dtype bf16 --iters 1 ${NCU_DETAIL#*|} > "$O/ncu_detail.log" 2>&1
  "$NCU" -i "$O/ncu_detail.ncu-rep" > "$O/ncu_detail.txt" 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|Throughput|Achieved Occupancy|Registers|Grid Size|Issued|Eligible|Spilling Requests  " \
    "$O/ncu_detail.txt" | head -40
  "$NCU" -i "$O/ncu_detail.ncu-rep" --page source --csv --print-source sass > "$O/ncu_source.csv" 2>&1
  python3 "$ROOT/scripts/ncu_source_hotspots.py" 45 < "$O/ncu_source.csv" > "$O/ncu_hotspots.txt" 2>&1
  head -120 "$O/ncu_hotspots.txt"
fi
if [ "${SERVER:-0}" = 1 ]; then
  for mode in ${SERVER_MODES:-true false}; do
    conc=${SERVER_CONCURRENCY:-1 16 64}
    [ "$mode" = false ] && conc="1 16"
    echo "== server end to end, pipeline_decode=$mode, concurrency $conc"
    SKIP_BUILD=1 BUILD_DIR=$B OUT=$O/server_pipe_$mode PIPELINE_DECODE=$mode CONCURRENCY=$conc \
      bash "$ROOT/scripts/gpu_server_bench.sh" > "$O/server_pipe_$mode.log" 2>&1 || tail -20 "$O/server_pipe_$mode.log"
    cat "$O"/server_pipe_"$mode"/*_server_overhead.md 2>/dev/null
  done
fi
echo "total: $((SECONDS - t0)) s"
