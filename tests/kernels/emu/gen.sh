#!/usr/bin/env bash
# gen.sh SRC OUT: copies the prefill (conv, SSD), decode-step (conv, SSM, GEMV, persistent) and norm kernel sources
# of the checkout SRC to OUT as C++
# for the CPU emulator (include/emu_runtime.h): .cu files become .cc, launches go to
# emu::launch, and the device-only pieces (error checks, PDL, clusters, device queries,
# dynamic shared memory) are replaced. The device reports compute capability 8 (no clusters:
# the three-launch SSD path) and 1 SM (so small test grids take the paths of large ones).
set -euo pipefail
SRC=$1
OUT=$2
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/kernels"
for d in common conv_prefill ssd_prefill conv_step ssm_step norm gemv decode_persistent; do cp -r "$SRC/kernels/$d" "$OUT.tmp/kernels/"; done
rm -f "$OUT.tmp/kernels/common/device_info.cu"
for f in "$OUT.tmp"/kernels/*/*.cu; do mv "$f" "${f%.cu}.cc"; done
cat > "$OUT.tmp/kernels/common/cuda_check.cuh" <<'X'
#pragma once
#include "emu_runtime.h"
#include "kernels/common/kernel_types.h"
#define MAMBA_CUDA_CHECK(expr) do { (void)(expr); } while (0)
#define MAMBA_CUDA_CHECK_LAUNCH() do {} while (0)
X
cat > "$OUT.tmp/kernels/common/launch.cuh" <<'X'
#pragma once
#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_info.h"
namespace mamba::kernels {
inline void pdlEnter() {}
inline int deviceMajor() { return 8; }
inline int deviceSmCount() { return 1; }
inline bool pdlEnabled() { return false; }
template <typename... KA, typename... A>
void launchKernelClustered(void (*kernel)(KA...), dim3 grid, dim3 block, size_t, cudaStream_t, unsigned clusterX,
                           A&&... args) {
  if (clusterX > 0) throw CudaError("kernel emulator: no clusters");
  ::emu::launch(kernel, grid, block, args...);
}
template <typename... KA, typename... A>
void launchKernel(void (*kernel)(KA...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  launchKernelClustered(kernel, grid, block, smem, stream, 0, args...);
}
template <typename... KA, typename... A>
void launchKernelCooperative(void (*kernel)(KA...), dim3 grid, dim3 block, size_t, cudaStream_t, bool, A&&... args) {
  ::emu::launch(kernel, grid, block, args...);
}
}  // namespace mamba::kernels
X
cat > "$OUT.tmp/kernels/common/cluster.cuh" <<'X'
#pragma once
#include <cstdlib>
namespace mamba::kernels {
inline void clusterArrive() { std::abort(); }
inline void clusterWait() { std::abort(); }
inline void clusterSync() { std::abort(); }
inline void clusterSyncRelaxed() { std::abort(); }
}  // namespace mamba::kernels
X
# cp.async as plain copies; the grid barrier only for one-block grids (blocks run one after
# another here: the tests launch bigger grids one step at a time, which takes no barrier).
cat > "$OUT.tmp/kernels/common/async_copy.cuh" <<'X'
#pragma once
#include <cstring>
namespace mamba::kernels {
inline void* smemAddr(const void* p) { return const_cast<void*>(p); }
inline void cpAsync16(void* dst, const void* src, int srcBytes) {
  if (srcBytes == 16) std::memcpy(dst, src, 16); else std::memset(dst, 0, 16);
}
inline void cpAsync4(void* dst, const void* src) { std::memcpy(dst, src, 4); }
inline void cpAsyncCommit() {}
inline void cpAsyncWaitAll() {}
template <int kPending> inline void cpAsyncWaitGroup() {}
}  // namespace mamba::kernels
X
cat > "$OUT.tmp/kernels/decode_persistent/grid_barrier.cuh" <<'X'
#pragma once
#include <cstdlib>
namespace mamba::kernels {
inline void gridBarrier(unsigned*, unsigned) {
  if (gridDim.x != 1) std::abort();
  __syncthreads();
}
inline void gridBarrierRelease(unsigned*) {}
}  // namespace mamba::kernels
X
sed -i 's/extern __shared__ __align__(16) unsigned char smem\[\];/alignas(16) static unsigned char smem[1 << 18];/' \
  "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
grep -q "static unsigned char smem\[1 << 18\];" "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
sed -i 's/MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));/(void)kernel;/' \
  "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
grep -q "(void)kernel;" "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
sed -i 's/extern __shared__ __align__(128) unsigned char smem\[\];/static unsigned char smem[1];/' \
  "$OUT.tmp/kernels/ssd_prefill/ssd_single_tile.cuh"
sed -i 's/MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));/(void)kernel;/' \
  "$OUT.tmp/kernels/ssd_prefill/ssd_prefill_launch.cuh"
sed -i 's/extern __shared__ float smem\[\];/static float smem[16384];/' "$OUT.tmp/kernels/ssm_step/ssm_step.cuh"
grep -q "static float smem\[16384\];" "$OUT.tmp/kernels/ssm_step/ssm_step.cuh"
sed -i 's/extern __shared__ float xs\[\];/static float xs[12288];/' "$OUT.tmp/kernels/gemv/gemv.cuh"
grep -q "static float xs\[12288\];" "$OUT.tmp/kernels/gemv/gemv.cuh"
grep -q "static unsigned char smem\[1\];" "$OUT.tmp/kernels/ssd_prefill/ssd_single_tile.cuh"
grep -q "(void)kernel;" "$OUT.tmp/kernels/ssd_prefill/ssd_prefill_launch.cuh"
# Replace OUT only when something changed, so that unchanged sources are not rebuilt.
mkdir -p "$OUT"
(cd "$OUT.tmp" && find . -type f) | while read -r f; do
  mkdir -p "$(dirname "$OUT/$f")"
  cmp -s "$OUT.tmp/$f" "$OUT/$f" || cp "$OUT.tmp/$f" "$OUT/$f"
done
rm -rf "$OUT.tmp"
