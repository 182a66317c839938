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
struct DynamicSmemLimit {
  template <typename... KA>
  void ensure(void (*)(KA...), int) {}
};
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
# Tensor maps without a driver: the descriptor's bytes carry an EmuTensorMap2d (async_copy.cuh).
cat > "$OUT.tmp/kernels/common/tensor_map.cc" <<'X'
#include "kernels/common/tensor_map.h"
#include <cstring>
#include "kernels/common/async_copy.cuh"
namespace mamba::kernels {
CUtensorMap tensorMap2d16(const void* base, uint64_t cols, uint64_t rows, uint64_t rowStrideBytes, uint32_t boxCols,
                          uint32_t boxRows) {
  static_assert(sizeof(EmuTensorMap2d) <= sizeof(CUtensorMap), "the emulated map fits the descriptor");
  const EmuTensorMap2d m{static_cast<const unsigned char*>(base), cols, rows, rowStrideBytes, boxCols, boxRows};
  CUtensorMap map{};
  std::memcpy(&map, &m, sizeof m);
  return map;
}
}  // namespace mamba::kernels
X
# cp.async as plain copies, mbarriers and tile copies as below; the grid barrier only for
# one-block grids (blocks run one after another here: the tests launch bigger grids one step at
# a time, which takes no barrier).
cat > "$OUT.tmp/kernels/common/async_copy.cuh" <<'X'
#pragma once
#include <cuda.h>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
namespace mamba::kernels {
inline void* smemAddr(const void* p) { return const_cast<void*>(p); }
inline void cpAsync16(void* dst, const void* src, int srcBytes) {
  if (srcBytes == 16) std::memcpy(dst, src, 16); else std::memset(dst, 0, 16);
}
inline void cpAsync4(void* dst, const void* src) { std::memcpy(dst, src, 4); }
inline void cpAsyncCommit() {}
inline void cpAsyncWaitAll() {}
template <int kPending> inline void cpAsyncWaitGroup() {}
// mbarriers with PTX's phase rule (a phase completes when its arrivals have arrived and its
// announced bytes have landed, in either order; a wait on parity p returns once the phase of
// that parity has completed), kept beside shared memory by address. Tile copies land at once,
// in the issuing thread's order, and then count their bytes: a thread that reads what another
// thread copied must wait, as on the device.
struct EmuBarrier { int arrivals = 1, arrived = 0; int64_t tx = 0; unsigned completed = 0; };
inline std::mutex gEmuBarrierMutex;
inline std::map<const void*, EmuBarrier> gEmuBarriers;
inline void emuBarrierUpdate(const void* bar, int arrive, int64_t tx) {
  std::lock_guard<std::mutex> lock(gEmuBarrierMutex);
  EmuBarrier& b = gEmuBarriers[bar];
  b.arrived += arrive;
  b.tx += tx;
  if (b.arrived == b.arrivals && b.tx == 0) {
    b.arrived = 0;
    ++b.completed;
  }
}
inline void mbarrierInit(void* bar, int arrivals) {
  std::lock_guard<std::mutex> lock(gEmuBarrierMutex);
  gEmuBarriers[bar] = EmuBarrier{arrivals, 0, 0, 0};
}
inline void mbarrierInitFence() {}
inline void mbarrierArriveExpectTx(void* bar, uint32_t bytes) { emuBarrierUpdate(bar, 1, bytes); }
inline void mbarrierWait(void* bar, uint32_t parity) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(gEmuBarrierMutex);
      if ((gEmuBarriers[bar].completed & 1u) != parity) return;
    }
    std::this_thread::yield();
  }
}
// Tensor maps hold an EmuTensorMap2d (tensor_map.cc); a box copy is row by row, zero outside
// the tensor.
struct EmuTensorMap2d { const unsigned char* base; uint64_t cols, rows, stride; uint32_t boxCols, boxRows; };
inline void tensorTileToShared(void* dst, const CUtensorMap* map, int col, int row, void* bar) {
  EmuTensorMap2d m;
  std::memcpy(&m, map, sizeof m);
  auto* out = static_cast<unsigned char*>(dst);
  for (uint32_t r = 0; r < m.boxRows; ++r) {
    for (uint32_t c = 0; c < m.boxCols; ++c) {
      const uint64_t gr = static_cast<uint64_t>(row) + r, gc = static_cast<uint64_t>(col) + c;
      unsigned char* o = out + (static_cast<size_t>(r) * m.boxCols + c) * 2;
      if (gr < m.rows && gc < m.cols) std::memcpy(o, m.base + gr * m.stride + gc * 2, 2); else std::memset(o, 0, 2);
    }
  }
  emuBarrierUpdate(bar, 0, -static_cast<int64_t>(m.boxCols) * m.boxRows * 2);
}
inline void fenceProxyAsync() {}
}  // namespace mamba::kernels
X
# ldmatrix and mma.sync m16n8k16 with the PTX fragment layouts (kernels/common/mma_sm80.cuh):
# every lane posts its operands, then computes its own result from the whole warp's.
cat > "$OUT.tmp/kernels/common/mma_sm80.cuh" <<'X'
#pragma once
#include <cstdint>
#include <cstring>
#include "emu_runtime.h"
namespace mamba::kernels {
namespace emu_mma {
struct LaneIn { const void* addr; uint32_t a[4], b[2]; };
inline LaneIn gLanes[32][32];  // [warp][lane]
inline void warpSync() { emu::gWarpBarriers[static_cast<size_t>(emu::linearTid() / 32)]->arrive_and_wait(); }
inline uint32_t elem(const void* row, int col) {
  uint16_t v;
  std::memcpy(&v, static_cast<const char*>(row) + 2 * col, 2);
  return v;
}
inline uint32_t half16(const uint32_t* regs, int reg, int hi) { return (regs[reg] >> (16 * hi)) & 0xffffu; }
template <int kRegs, bool kTrans>
void ldmatrix(uint32_t* r, const void* addr) {
  const int t = emu::linearTid(), w = t / 32, lane = t % 32, g = lane / 4, q = lane % 4;
  gLanes[w][lane].addr = addr;
  warpSync();
  for (int m = 0; m < kRegs; ++m) {
    const LaneIn* rows = &gLanes[w][8 * m];
    r[m] = kTrans ? elem(rows[2 * q].addr, g) | elem(rows[2 * q + 1].addr, g) << 16
                  : elem(rows[g].addr, 2 * q) | elem(rows[g].addr, 2 * q + 1) << 16;
  }
  warpSync();
}
template <typename T> float toF(uint32_t bits) {
  T v;
  const uint16_t b = static_cast<uint16_t>(bits);
  std::memcpy(&v, &b, 2);
  return static_cast<float>(v);
}
template <typename T> uint32_t toBits(float f) {
  const T v = T(f);
  uint16_t b;
  std::memcpy(&b, &v, 2);
  return b;
}
}  // namespace emu_mma
inline void ldmatrixX4(uint32_t (&r)[4], const void* a) { emu_mma::ldmatrix<4, false>(r, a); }
inline void ldmatrixX4Trans(uint32_t (&r)[4], const void* a) { emu_mma::ldmatrix<4, true>(r, a); }
inline void ldmatrixX2(uint32_t (&r)[2], const void* a) { emu_mma::ldmatrix<2, false>(r, a); }
template <typename T>
void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  using namespace emu_mma;
  const int t = emu::linearTid(), w = t / 32, lane = t % 32, g = lane / 4, q = lane % 4;
  std::memcpy(gLanes[w][lane].a, a, sizeof a);
  std::memcpy(gLanes[w][lane].b, b, sizeof b);
  warpSync();
  for (int e = 0; e < 4; ++e) {
    const int row = g + 8 * (e >> 1), col = 2 * q + (e & 1);
    float acc = c[e];
    for (int k = 0; k < 16; ++k) {
      const LaneIn& la = gLanes[w][(row % 8) * 4 + (k % 8) / 2];
      const LaneIn& lb = gLanes[w][col * 4 + (k % 8) / 2];
      acc += toF<T>(half16(la.a, (row >= 8) + 2 * (k >= 8), k % 2)) * toF<T>(half16(lb.b, k >= 8, k % 2));
    }
    c[e] = acc;
  }
  warpSync();
}
template <typename T> uint32_t packPair(float lo, float hi) {
  return emu_mma::toBits<T>(lo) | emu_mma::toBits<T>(hi) << 16;
}
template <typename T> float2 unpackPair(uint32_t v) {
  return make_float2(emu_mma::toF<T>(v & 0xffffu), emu_mma::toF<T>(v >> 16));
}
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
# Dynamic shared memory becomes a static array, filled with NaN bytes at every block's start
# (emu::poisonShared), so a kernel that reads what it did not write fails its test.
sed -i 's/extern __shared__ __align__(16) unsigned char smem\[\];/alignas(16) static unsigned char smem[1 << 18]; ::emu::poisonShared(smem, sizeof(smem));/' \
  "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
grep -q "static unsigned char smem\[1 << 18\];" "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
sed -i 's/MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));/(void)kernel;/' \
  "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
grep -q "(void)kernel;" "$OUT.tmp/kernels/decode_persistent/decode_persistent.cuh"
sed -i 's/extern __shared__ __align__(128) unsigned char smem\[\];/static unsigned char smem[1];/' \
  "$OUT.tmp/kernels/ssd_prefill/ssd_single_tile.cuh"
sed -i 's/extern __shared__ __align__(128) unsigned char smem\[\];/alignas(128) static unsigned char smem[1 << 18]; ::emu::poisonShared(smem, sizeof(smem));/' \
  "$OUT.tmp/kernels/ssd_prefill/ssd_sequential.cuh"
grep -q "static unsigned char smem\[1 << 18\];" "$OUT.tmp/kernels/ssd_prefill/ssd_sequential.cuh"
sed -i 's/extern __shared__ __align__(16) unsigned char convStage\[\];/alignas(16) static unsigned char convStage[1 << 17]; ::emu::poisonShared(convStage, sizeof(convStage));/' \
  "$OUT.tmp/kernels/conv_prefill/conv_prefill.cuh"
grep -q "static unsigned char convStage\[1 << 17\];" "$OUT.tmp/kernels/conv_prefill/conv_prefill.cuh"
sed -i 's/extern __shared__ float smem\[\];/static float smem[16384]; ::emu::poisonShared(smem, sizeof(smem));/' "$OUT.tmp/kernels/ssm_step/ssm_step.cuh"
grep -q "static float smem\[16384\];" "$OUT.tmp/kernels/ssm_step/ssm_step.cuh"
sed -i 's/extern __shared__ float xs\[\];/static float xs[12288]; ::emu::poisonShared(xs, sizeof(xs));/' "$OUT.tmp/kernels/gemv/gemv.cuh"
grep -q "static float xs\[12288\];" "$OUT.tmp/kernels/gemv/gemv.cuh"
grep -q "static unsigned char smem\[1\];" "$OUT.tmp/kernels/ssd_prefill/ssd_single_tile.cuh"
# Replace OUT only when something changed, so that unchanged sources are not rebuilt.
mkdir -p "$OUT"
(cd "$OUT.tmp" && find . -type f) | while read -r f; do
  mkdir -p "$(dirname "$OUT/$f")"
  cmp -s "$OUT.tmp/$f" "$OUT/$f" || cp "$OUT.tmp/$f" "$OUT/$f"
done
rm -rf "$OUT.tmp"
