// A grid-wide barrier for kernels whose CTAs are all co-resident (a cooperative launch).
//
// bar[0] counts arrivals within one launch: the k-th barrier of the launch is passed when it
// reaches k * gridDim.x (each CTA adds 1 with release semantics and polls with acquire loads:
// one round trip to L2 per barrier, no return value waited on). At the end of the launch,
// gridBarrierRelease resets it: bar[kGridBarrierDone] counts the CTAs that passed their last
// barrier, and the last of them zeroes both words, when no CTA can still be polling. So the
// words must start zeroed and must not be shared by launches that can run concurrently.
// Writes before a barrier by any thread of the grid are visible after it to reads that bypass
// L1 (ld.cg, cp.async.cg): the CTA barrier orders the CTA's writes before thread 0's release.
#pragma once

namespace mamba::kernels {

constexpr int kGridBarrierDone = 32;  // a word in another 128-byte line than the arrival count

__device__ __forceinline__ void gridBarrier(unsigned* bar, unsigned target) {
  __syncthreads();
  if (threadIdx.x == 0) {
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(bar) : "memory");
    // Relaxed polls, one acquire fence after: an acquire load per poll would invalidate L1
    // every iteration (Nsight Compute showed CCTL.IVALL in the spin loop).
    unsigned v = 0;
    do {
      asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(bar) : "memory");
    } while (v < target);
    asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
  }
  __syncthreads();
}

// After the launch's last gridBarrier (thread 0 of every CTA reaches it once).
__device__ __forceinline__ void gridBarrierRelease(unsigned* bar) {
  if (threadIdx.x == 0 && atomicAdd(bar + kGridBarrierDone, 1u) == gridDim.x - 1) {
    atomicExch(bar, 0u);
    atomicExch(bar + kGridBarrierDone, 0u);
  }
}

}  // namespace mamba::kernels
