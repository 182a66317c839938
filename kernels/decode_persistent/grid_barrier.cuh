// A grid-wide barrier for kernels whose CTAs are all co-resident (a cooperative launch).
//
// bar[0] counts arrivals and returns to 0 after every barrier; bar[kGridBarrierGen] is a
// generation that only grows (in another 128-byte line, so the spinning reads do not contend
// with the arrivals), so consecutive launches reuse the two words without a reset (they must start zeroed
// and must not be shared by launches that can run concurrently). Writes before the barrier by
// any thread of the grid are visible after it to reads that bypass L1 (ld.cg / atomics): the
// CTA barrier orders the CTA's writes before thread 0's fence (fences are cumulative).
#pragma once

namespace mamba::kernels {

constexpr int kGridBarrierGen = 32;  // word of the generation; the barrier spans kGridBarrierWords

__device__ __forceinline__ void gridBarrier(unsigned* bar) {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* gen = bar + kGridBarrierGen;
    const unsigned g = *gen;  // read before arriving: it cannot move until this CTA arrives
    __threadfence();
    if (atomicAdd(bar, 1u) == gridDim.x - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + kGridBarrierGen, 1u);
    } else {
      while (*gen == g) __nanosleep(20);
    }
    __threadfence();
  }
  __syncthreads();
}

}  // namespace mamba::kernels
