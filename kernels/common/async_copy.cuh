// Asynchronous global -> shared copies (cp.async, sm_80+; tensor-map tile copies on an mbarrier,
// sm_90+), shared by the kernels that stage operands ahead of their use. A cp.async thread waits
// only for its own copies: follow a wait with __syncthreads before reading what other threads
// copied.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mamba::kernels {

__device__ __forceinline__ uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte async copy global -> shared; srcBytes 0 writes 16 zero bytes (src must stay valid).
__device__ __forceinline__ void cpAsync16(uint32_t dst, const void* src, int srcBytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(srcBytes) : "memory");
}
// 4-byte async copy global -> shared (src 4-byte aligned).
__device__ __forceinline__ void cpAsync4(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src) : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cpAsyncWaitAll() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }
// Waits until at most `kPending` of this thread's most recent commit groups are in flight.
template <int kPending>
__device__ __forceinline__ void cpAsyncWaitGroup() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Bulk tensor copies (sm_90+, executed by the TMA unit) report their bytes to the transaction
// count of an mbarrier (8-byte aligned shared memory). The barrier's phase completes when its
// expected arrivals have arrived (mbarrierArriveExpectTx, which also announces the bytes) and all
// announced bytes have landed, in either order. On older devices these trap: callers choose them
// only on sm_90+.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define MAMBA_SM90_ONLY(...) __VA_ARGS__
#else
#define MAMBA_SM90_ONLY(...) __trap()
#endif
__device__ __forceinline__ void mbarrierInit(uint32_t bar, int arrivals) {
  MAMBA_SM90_ONLY(asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(arrivals) : "memory"));
}
// After mbarrierInit, before any thread uses the barrier (then a block barrier).
__device__ __forceinline__ void mbarrierInitFence() {
  MAMBA_SM90_ONLY(asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"));
}
__device__ __forceinline__ void mbarrierArriveExpectTx(uint32_t bar, uint32_t bytes) {
  MAMBA_SM90_ONLY(asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
                               : "memory"));
}
// Waits until the barrier's phase with parity `parity` (0, 1, 0, ... per completed phase) has
// completed; the copies it counted are then visible to the waiting thread.
__device__ __forceinline__ void mbarrierWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  while (done == 0) {
    MAMBA_SM90_ONLY(asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory"));
  }
}
// One box of a 2-D tensor map (kernels/common/tensor_map.h) at element (col, row) -> shared
// memory at dst (128-byte aligned), counted on `bar` as the box's full size. `map` is the
// address of a __grid_constant__ kernel parameter. Callers that wrote, with ordinary stores,
// shared memory such a copy overwrites run fenceProxyAsync between the two (after the barrier
// that orders them).
__device__ __forceinline__ void tensorTileToShared(uint32_t dst, const CUtensorMap* map, int col, int row,
                                                   uint32_t bar) {
  MAMBA_SM90_ONLY(asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
      "[%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row), "r"(bar)
      : "memory"));
}
__device__ __forceinline__ void fenceProxyAsync() {
  MAMBA_SM90_ONLY(asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"));
}
#undef MAMBA_SM90_ONLY

}  // namespace mamba::kernels
