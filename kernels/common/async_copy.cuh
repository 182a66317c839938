// Asynchronous global -> shared copies (cp.async, sm_80+), shared by the kernels that stage
// constant operands ahead of their use. Each thread waits only for its own copies: follow a
// wait with __syncthreads before reading what other threads copied.
#pragma once

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

}  // namespace mamba::kernels
