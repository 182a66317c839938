# Source this: puts the project's Python venv and the LibTorch / CUDA libraries on the paths.
_MAMBA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_MAMBA_SITE=$(ls -d "$_MAMBA_ROOT"/.deps/venv/lib/python3*/site-packages 2>/dev/null | head -1)
export MAMBA_PYTHON=$_MAMBA_ROOT/.deps/venv/bin/python
export Torch_DIR=$_MAMBA_SITE/torch/share/cmake/Torch
_cuda_lib=/usr/local/cuda/lib64
_nv=$(ls -d "$_MAMBA_SITE"/nvidia/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH=$_MAMBA_SITE/torch/lib:$_nv$_cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH=/usr/local/cuda/bin:$PATH
unset _cuda_lib _nv
