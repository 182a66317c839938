#!/usr/bin/env bash
# End-to-end serving benchmark (issue 6): build mamba-server, mamba-cli, mamba-bench and
# mamba-tool with gRPC on the GPU machine, serve a random-weight model at a published shape,
# run `mamba-cli bench` at several concurrencies, run `mamba-bench` (the engine alone) at the
# same shape, and report the server's overhead over the engine (scripts/server_overhead.py).
#
# On the GPU machine, from the repository root, with the Debian 12 packages in .gpu-debs
# (see GPU_DEBS below; the folder is gitignored and travels in the device call's `carry`):
#   scripts/gpu_server_bench.sh                  # results in $OUT (or bench/results/run-DATE)
# Dry run on a CPU machine with an existing build:
#   DEVICE=cpu DTYPE=fp32 SKIP_BUILD=1 BUILD_DIR=build MODEL=models/mamba2-ref \
#     ENGINE_PRESET=tiny OUTPUT_TOKENS=32 ROUNDS=2 MIN_REQUESTS=8 scripts/gpu_server_bench.sh
#
# Packages for .gpu-debs (on a Debian 12 machine: cd .gpu-debs && apt-get download ...):
#   libgrpc++-dev libgrpc++1.51 libgrpc29 libgrpc-dev protobuf-compiler-grpc libabsl20220623
#   libabsl-dev libre2-9 libre2-dev libc-ares2 libc-ares-dev libprotoc32 libprotobuf-dev
#   libprotobuf32 libprotobuf-lite32 protobuf-compiler libutf8proc2 libutf8proc-dev
#   libgtest-dev libgmock-dev googletest libcpp-httplib-dev libcpp-httplib0.11 libbrotli1
#   libbrotli-dev libyaml-cpp-dev libyaml-cpp0.7
# They are unpacked with dpkg -x into /tmp/deps (never into /).
#
# Environment (defaults in brackets):
#   DEVICE [cuda]  DTYPE [bf16]  PRESET [130m]  MODEL [made with mamba-tool make-model PRESET]
#   ENGINE_PRESET [PRESET]  SLOTS [64]  CONCURRENCY ["1 16 64"]  PROMPT_TOKENS [64]
#   OUTPUT_TOKENS [128]  ROUNDS [8] (requests = max(MIN_REQUESTS, ROUNDS * concurrency))
#   MIN_REQUESTS [64]  ENGINE_ITERS [20]  SKIP_BUILD [0]  BUILD_DIR [/tmp/mamba-gpu-server-build]
#   BUILD_TESTS [0] (1: also build the gpu/model test binaries, for scripts/gpu_test.sh's ctest)
#   STOP_AFTER_BUILD [0]  PIPELINE_DECODE [server default, true] (false: the synchronous decode loop)
#   SERVER_ARGS [] more mamba-server flags (e.g. "--idle-spin-us 200")
#   DEPS_DIR [/tmp/deps]  STOP_AFTER_CONFIGURE [0]  TAG [GPU model from nvidia-smi, e.g. h100; cpu]  PORT [50551]  METRICS_PORT [9451]
#   OUT [bench/results/run-DATE]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bf16}
PRESET=${PRESET:-130m}
ENGINE_PRESET=${ENGINE_PRESET:-$PRESET}
MODEL=${MODEL:-}
SLOTS=${SLOTS:-64}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
PROMPT_TOKENS=${PROMPT_TOKENS:-64}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-128}
ROUNDS=${ROUNDS:-8}
MIN_REQUESTS=${MIN_REQUESTS:-64}
ENGINE_ITERS=${ENGINE_ITERS:-20}
SKIP_BUILD=${SKIP_BUILD:-0}
BUILD_DIR=${BUILD_DIR:-/tmp/mamba-gpu-server-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
D=${DEPS_DIR:-/tmp/deps}
if [ -z "${TAG:-}" ]; then
  TAG=cpu
  if [ "${DEVICE%%:*}" = cuda ]; then   # e.g. "NVIDIA H100 80GB HBM3" -> h100
    TAG=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 |
          grep -oE '\b[A-Z][0-9]{2,4}\b' | head -1 | tr '[:upper:]' '[:lower:]' || true)
    TAG=${TAG:-gpu}
  fi
fi
PORT=${PORT:-50551}
METRICS_PORT=${METRICS_PORT:-9451}
DATE=$(date -u +%F)
OUT=${OUT:-$ROOT/bench/results/run-$DATE}
mkdir -p "$OUT"
MODEL_LABEL=$PRESET
if [ -n "$MODEL" ]; then MODEL_LABEL=$(basename "$MODEL"); fi
NAME=${TAG}_${DATE}_${MODEL_LABEL}_${DTYPE}
T_START=$(date +%s)

die() { echo "gpu_server_bench: FAILED: $*" >&2; exit 1; }
phase_t0=0
phase() { phase_t0=$(date +%s); echo "== [$(( phase_t0 - T_START ))s] $*"; }
phase_done() { echo "   done in $(( $(date +%s) - phase_t0 ))s"; }
tail_log() { echo "---- last lines of $1 ----" >&2; tail -n "${2:-60}" "$1" >&2 || true; echo "----" >&2; }

echo "gpu_server_bench: device=$DEVICE dtype=$DTYPE model=${MODEL:-random $PRESET} engine preset=$ENGINE_PRESET"
echo "  concurrency=[$CONCURRENCY] prompt=$PROMPT_TOKENS output=$OUTPUT_TOKENS slots=$SLOTS out=$OUT name=$NAME"

# ---------------------------------------------------------------- dependencies and build
if [ "$SKIP_BUILD" != 1 ]; then
  phase "unpack .gpu-debs into $D"
  compgen -G "$ROOT/.gpu-debs/*.deb" >/dev/null ||
    die "no .deb files in $ROOT/.gpu-debs (download them on a Debian 12 machine, see the header of $0, and carry .gpu-debs)"
  for pkg in libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libcpp-httplib-dev \
             libutf8proc-dev libyaml-cpp-dev libbrotli1; do
    compgen -G "$ROOT/.gpu-debs/${pkg}_*.deb" >/dev/null || die ".gpu-debs lacks $pkg"
  done
  for tool in dpkg pkg-config cmake python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed on this machine"
  done
  mkdir -p "$D"
  for f in "$ROOT"/.gpu-debs/*.deb; do dpkg -x "$f" "$D"; done
  # Point the unpacked .pc files at $D (they say prefix=/usr). Unlike PKG_CONFIG_SYSROOT_DIR
  # this keeps the machine's own .pc files (openssl, zlib) usable beside them.
  PCDIR=$D/usr/lib/x86_64-linux-gnu/pkgconfig
  sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\\1=$D/usr#" "$PCDIR"/*.pc
  export PKG_CONFIG_PATH=$PCDIR${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  # cpp-httplib.pc names openssl and zlib as Requires.private, which pkgconf insists on even
  # for a shared link; stub them only where the machine has no .pc of its own.
  STUBS=$D/stub-pkgconfig; mkdir -p "$STUBS"
  for m in openssl zlib; do
    if ! pkg-config --exists "$m"; then
      echo "   (no $m.pc on this machine: using an empty stub)"
      printf 'Name: %s\nDescription: stub\nVersion: 3.0.0\n' "$m" >"$STUBS/$m.pc"
    fi
  done
  export PKG_CONFIG_PATH=$PKG_CONFIG_PATH:$STUBS
  pkg-config --exists cpp-httplib libutf8proc || die "pkg-config cannot resolve cpp-httplib / libutf8proc from $PCDIR"
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu CPATH=$D/usr/include
  "$D/usr/bin/protoc" --version >/dev/null || die "the carried protoc does not run"
  phase_done

  phase "configure $BUILD_DIR"
  TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') || die "python3 cannot import torch"
  GEN=Ninja; command -v ninja >/dev/null || GEN="Unix Makefiles"
  CUDA_ARGS=()
  if [ "${DEVICE%%:*}" = cuda ]; then CUDA_ARGS=(-DMAMBA_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90); fi
  TEST_ARGS=(-DMAMBA_BUILD_TESTS=OFF)
  TARGETS=(mamba-server mamba-cli mamba-bench mamba-tool)
  if [ "${BUILD_TESTS:-0}" = 1 ]; then
    TEST_ARGS=(-DMAMBA_BUILD_TESTS=ON -DMAMBA_PYTHON_EXECUTABLE="$(command -v python3)")
    TARGETS+=(kernel_tests model_gpu_tests model_tests engine_gpu_tests mamba-variant-bench)
  fi
  if ! cmake -S "$ROOT" -B "$BUILD_DIR" -G "$GEN" -DCMAKE_BUILD_TYPE=Release \
      -DMAMBA_BUILD_SERVER=ON "${TEST_ARGS[@]}" "${CUDA_ARGS[@]}" \
      -DCMAKE_PREFIX_PATH="$TP;$D/usr/lib/x86_64-linux-gnu/cmake;$D/usr" \
      -DProtobuf_PROTOC_EXECUTABLE="$D/usr/bin/protoc" \
      -DMAMBA_GRPC_CPP_PLUGIN="$D/usr/bin/grpc_cpp_plugin" >"$OUT/build_configure.log" 2>&1; then
    tail_log "$OUT/build_configure.log" 80; die "cmake configure (log: $OUT/build_configure.log)"
  fi
  if [ "${DEVICE%%:*}" = cuda ]; then
    grep -q "^MAMBA_WITH_CUDA:BOOL=ON" "$BUILD_DIR/CMakeCache.txt" || die "CUDA is off in $BUILD_DIR (nvcc not found?)"
  fi
  grep -E "^(Protobuf_INCLUDE_DIR|Protobuf_PROTOC_EXECUTABLE|gRPC_DIR|yaml-cpp_DIR|MAMBA_GRPC_CPP_PLUGIN)[:=]" \
    "$BUILD_DIR/CMakeCache.txt" | sed 's/^/   /'
  phase_done
  if [ "${STOP_AFTER_CONFIGURE:-0}" = 1 ]; then echo "STOP_AFTER_CONFIGURE=1: stopping"; exit 0; fi

  phase "build ${TARGETS[*]} (-j$(nproc))"
  if ! cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}" >"$OUT/build.log" 2>&1; then
    grep -n -E "error|Error" "$OUT/build.log" | head -30 >&2 || true
    tail_log "$OUT/build.log" 60; die "build (log: $OUT/build.log)"
  fi
  phase_done
  if [ "${STOP_AFTER_BUILD:-0}" = 1 ]; then echo "STOP_AFTER_BUILD=1: stopping"; exit 0; fi
else
  # A build from an earlier run on this machine needs the unpacked packages on the path.
  if [ -d "$D/usr/lib/x86_64-linux-gnu" ]; then
    export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
  # A local build: its LibTorch / CUDA libraries come from scripts/env.sh's venv.
  if [ -d "$ROOT/.deps/venv" ]; then
    # shellcheck source=scripts/env.sh
    source "$ROOT/scripts/env.sh"
  fi
fi

SERVER=$BUILD_DIR/server/app/mamba-server
CLI=$BUILD_DIR/client/mamba-cli
BENCH=$BUILD_DIR/bench/mamba-bench
TOOL=$BUILD_DIR/tools/mamba-tool
for b in "$SERVER" "$CLI" "$BENCH"; do [ -x "$b" ] || die "missing $b (build it, or unset SKIP_BUILD)"; done

{
  echo "date: $(date -u '+%F %T') UTC"
  echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (+local changes)')"
  echo "device=$DEVICE dtype=$DTYPE model=${MODEL:-random $PRESET (seed 0)} slots=$SLOTS"
  echo "prompt_tokens=$PROMPT_TOKENS output_tokens=$OUTPUT_TOKENS concurrency=[$CONCURRENCY]"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; fi
  echo "cpu: $(nproc) cores"
} >"$OUT/${NAME}_env.txt"

# ---------------------------------------------------------------- model
if [ -z "$MODEL" ]; then
  phase "make a random-weight $PRESET model ($DTYPE)"
  [ -x "$TOOL" ] || die "missing $TOOL (needed to make the model; or set MODEL=DIR)"
  MODEL=/tmp/mamba-bench-model-$PRESET-$DTYPE
  rm -rf "$MODEL"
  "$TOOL" make-model --preset "$PRESET" --random --seed 0 --dtype "$DTYPE" --out "$MODEL" ||
    die "mamba-tool make-model --preset $PRESET"
  phase_done
fi
[ -f "$MODEL/config.json" ] || die "no config.json in model directory $MODEL"

# ---------------------------------------------------------------- engine alone (mamba-bench)
# Before the server starts, so that nothing else uses the device. Same batches as the
# server's concurrencies, prefill of PROMPT_TOKENS at those batch sizes.
phase "engine: mamba-bench --preset $ENGINE_PRESET --device $DEVICE --dtype $DTYPE"
ENGINE_JSON=$OUT/${NAME}_engine.json
# shellcheck disable=SC2086  # CONCURRENCY is a list
if ! "$BENCH" --preset "$ENGINE_PRESET" --device "$DEVICE" --dtype "$DTYPE" --iters "$ENGINE_ITERS" \
    --decode-batches $CONCURRENCY --prefill-batches $CONCURRENCY --prefill-lens "$PROMPT_TOKENS" \
    --label "engine baseline for $NAME" --json "$ENGINE_JSON" --markdown "$OUT/${NAME}_engine.md" \
    >"$OUT/${NAME}_engine.log" 2>&1; then
  tail_log "$OUT/${NAME}_engine.log" 40; die "mamba-bench"
fi
grep -E "^(decode|prefill) B=" "$OUT/${NAME}_engine.log" | sed 's/^/   /'
phase_done

# ---------------------------------------------------------------- server
SERVER_LOG=$OUT/${NAME}_server.log
SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "   server did not exit after SIGTERM; SIGKILL" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT

phase "start mamba-server ($DEVICE $DTYPE, $SLOTS slots) on 127.0.0.1:$PORT"
TARGET=127.0.0.1:$PORT
"$SERVER" --model "$MODEL" --name bench-model --device "$DEVICE" --dtype "$DTYPE" --slots "$SLOTS" \
  --max-batch "$SLOTS" --max-queued 1024 --listen "$TARGET" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  --log-level info --drain-timeout 5 ${PIPELINE_DECODE:+--pipeline-decode "$PIPELINE_DECODE"} ${SERVER_ARGS:-} >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
healthy=0
for _ in $(seq 1 300); do   # up to ~150 s (CUDA context + model load)
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    rc=0; wait "$SERVER_PID" || rc=$?; SERVER_PID=""
    tail_log "$SERVER_LOG" 40; die "mamba-server exited during start-up (rc $rc)"
  fi
  if "$CLI" --target "$TARGET" --timeout 2 health >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.5
done
[ "$healthy" = 1 ] || { tail_log "$SERVER_LOG" 40; die "mamba-server not SERVING on $TARGET after 150 s"; }
"$CLI" --target "$TARGET" --timeout 10 models | sed 's/^/   /' || true
phase_done

# Warm-up (not recorded): staggered output lengths at the highest concurrency make the batch
# size sweep through every CUDA-graph bucket (captured on first use), then a few at c=1.
MAXC=1
for c in $CONCURRENCY; do if [ "$c" -gt "$MAXC" ]; then MAXC=$c; fi; done
phase "warm-up (c=$MAXC, $((MAXC * 3)) requests, 2..$OUTPUT_TOKENS tokens)"
if ! "$CLI" --target "$TARGET" --timeout 300 bench -c "$MAXC" -r $((MAXC * 3)) \
    --prompt-tokens "$PROMPT_TOKENS" --output-tokens "2:$OUTPUT_TOKENS" -t 0 --seed 7 \
    >"$OUT/${NAME}_server_warmup.txt" 2>&1; then
  cat "$OUT/${NAME}_server_warmup.txt" >&2; tail_log "$SERVER_LOG" 40; die "warm-up bench"
fi
phase_done

SERVER_JSONS=()
for c in $CONCURRENCY; do
  r=$(( ROUNDS * c )); if [ "$r" -lt "$MIN_REQUESTS" ]; then r=$MIN_REQUESTS; fi
  phase "server bench c=$c ($r requests, prompt $PROMPT_TOKENS, output $OUTPUT_TOKENS, greedy, ignore_eos)"
  J=$OUT/${NAME}_server_c$c.json
  if ! "$CLI" --target "$TARGET" --timeout 300 bench -c "$c" -r "$r" --prompt-tokens "$PROMPT_TOKENS" \
      --output-tokens "$OUTPUT_TOKENS" -t 0 --seed 1 --warmup 2 --json "$J" \
      >"$OUT/${NAME}_server_c$c.txt" 2>&1; then
    cat "$OUT/${NAME}_server_c$c.txt" >&2; tail_log "$SERVER_LOG" 40; die "mamba-cli bench -c $c"
  fi
  sed 's/^/   /' "$OUT/${NAME}_server_c$c.txt"
  SERVER_JSONS+=("$J")
  phase_done
done

python3 - "$METRICS_PORT" "$OUT/${NAME}_server_metrics.txt" <<'EOF' || echo "   (could not scrape /metrics)"
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5) as r:
    open(sys.argv[2], "wb").write(r.read())
EOF

phase "stop mamba-server"
stop_server
trap - EXIT
phase_done

# ---------------------------------------------------------------- report
phase "server overhead over the engine"
python3 "$ROOT/scripts/server_overhead.py" --engine "$ENGINE_JSON" --markdown "$OUT/${NAME}_server_overhead.md" \
  --json "$OUT/${NAME}_server_overhead.json" "${SERVER_JSONS[@]}" || die "server_overhead.py"
echo
echo "gpu_server_bench: OK in $(( $(date +%s) - T_START ))s; results in $OUT:"
# shellcheck disable=SC2012
ls -1 "$OUT" | sed 's/^/   /'
