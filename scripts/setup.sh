#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian 12 machine (with the CUDA 13
# toolkit under /usr/local/cuda, as on the development and CI machines), then configures
# and builds it. Idempotent: a second run only rebuilds what changed.
#
#   scripts/setup.sh            # deps + build (CPU engine, kernels compiled if nvcc exists)
#   SKIP_APT=1 scripts/setup.sh # skip the Debian packages (already installed)
#
# LibTorch comes from the PyPI wheel torch==2.11.0, installed with --no-deps into
# .deps/venv. Of its CUDA dependency wheels (several GB) we install only the three the
# CUDA toolkit lacks (cuSPARSELt, NVSHMEM, cuFile, ~350 MB); cudart, cuBLAS, cuDNN, NCCL,
# cuFFT, cuRAND, cuSPARSE and CUPTI come from /usr/local/cuda. scripts/env.sh sets the
# library path for both the C++ binaries and the Python test oracle.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPS=$ROOT/.deps
mkdir -p "$DEPS"

if [ "${SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake ninja-build ccache pkg-config git python3-venv \
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
    libyaml-cpp-dev libutf8proc-dev nlohmann-json3-dev libgtest-dev libgmock-dev \
    libcpp-httplib-dev libcli11-dev prometheus openssl >/dev/null
fi

VENV=$DEPS/venv
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
PY=$VENV/bin/python
stamp=$DEPS/.python-deps-v2
if [ ! -f "$stamp" ]; then
  "$PY" -m pip install -q --disable-pip-version-check --no-deps torch==2.11.0 \
    nvidia-cusparselt-cu13==0.8.0 nvidia-nvshmem-cu13==3.4.5 nvidia-cufile==1.15.1.6
  "$PY" -m pip install -q --disable-pip-version-check \
    'filelock' 'typing-extensions>=4.10' 'sympy>=1.13.3' 'networkx>=2.5.1' jinja2 'fsspec>=0.8.5' \
    'setuptools<82' numpy transformers==5.17.0 tokenizers safetensors matplotlib
  touch "$stamp"
fi

# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
# Cache hits across clones at different paths (CI clones afresh).
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache ${MAMBA_CMAKE_ARGS:-}
cmake --build "$ROOT/build" -j"$(nproc)"
