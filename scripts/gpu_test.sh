#!/usr/bin/env bash
# On the GPU machine (torch 2.11 + transformers in the system python, no gRPC): build the
# engine, kernels and tools without the server, then run the GPU-labelled tests and the model
# tests (CPU/GPU agreement against the HF oracle). Usage: scripts/gpu_test.sh [ctest args]
# TARGETS="..." narrows the build; SKIP_TESTS=1 stops after it (scripts/gpu_profile.sh).
# SRC_DIR builds another source tree (scripts/gpu_ab.sh) with this tree's carried packages.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
# Debian 12 packages the GPU machine lacks (utf8proc, GoogleTest), carried in .gpu-debs and
# unpacked with dpkg -x into /tmp/deps (never into /).
D=/tmp/deps
if [ -d "$ROOT/.gpu-debs" ]; then
  mkdir -p $D && for f in "$ROOT"/.gpu-debs/*.deb; do dpkg -x "$f" $D; done
  export PKG_CONFIG_LIBDIR=$D/usr/lib/x86_64-linux-gnu/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu CPATH=$D/usr/include
  TP="$TP;$D/usr/lib/x86_64-linux-gnu/cmake;$D/usr"
fi
B=${BUILD_DIR:-/tmp/mamba-gpu-build}
cmake -S "${SRC_DIR:-$ROOT}" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAMBA_BUILD_SERVER=OFF \
  -DCMAKE_PREFIX_PATH="$TP" -DMAMBA_PYTHON_EXECUTABLE="$(command -v python3)" -DCMAKE_CUDA_ARCHITECTURES=90
cmake --build "$B" -j"$(nproc)" --target ${TARGETS:-model_tests model_gpu_tests kernel_tests engine_gpu_tests mamba-tool mamba-bench mamba-variant-bench}
[ "${SKIP_TESTS:-0}" = 1 ] && exit 0
cd "$B" && ctest --output-on-failure -j4 -R "hf_oracle|Gpu|OracleTest|MambaSsm|CudaOps|Gemv|DecodeGemm|Prefill|Greedy" "$@"
