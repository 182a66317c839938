// Kernel of launchGreedyPick (greedy.h): one block per row, two passes over the row (max with
// its lowest id, then the float64 sum of exponentials), block reductions in shared memory.
#pragma once

#include <cfloat>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/greedy/greedy.h"

namespace mamba::kernels {

constexpr int kGreedyThreads = 512;

__device__ __forceinline__ float sanitizeLogit(float v) {
  if (isnan(v)) return -INFINITY;
  return v == INFINITY ? FLT_MAX : v;
}

__global__ void __launch_bounds__(kGreedyThreads) greedyPickKernel(GreedyPickParams p) {
  pdlEnter();
  __shared__ float maxs[kGreedyThreads / 32];
  __shared__ int ids[kGreedyThreads / 32];
  __shared__ double sums[kGreedyThreads / 32];
  const float* x = p.logits + static_cast<int64_t>(blockIdx.x) * p.stride;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float best = -INFINITY;
  int bestId = p.vocab;  // "none yet": loses every tie
  for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) {
    const float v = sanitizeLogit(x[i]);
    if (v > best || (v == best && i < bestId)) {
      best = v;
      bestId = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bestId, o);
    if (ov > best || (ov == best && oi < bestId)) {
      best = ov;
      bestId = oi;
    }
  }
  if (lane == 0) {
    maxs[warp] = best;
    ids[warp] = bestId;
  }
  __syncthreads();
  best = maxs[0];
  bestId = ids[0];
  for (int w = 1; w < kGreedyThreads / 32; ++w) {
    if (maxs[w] > best || (maxs[w] == best && ids[w] < bestId)) {
      best = maxs[w];
      bestId = ids[w];
    }
  }
  if (best == -INFINITY) {  // dead row
    if (threadIdx.x == 0) {
      p.out[2 * blockIdx.x] = 0.0;
      p.out[2 * blockIdx.x + 1] = -INFINITY;
    }
    return;
  }
  double sum = 0.0;
  const double mx = best;
  for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) {
    // exp in float64 rounded to float = the correctly rounded expf (the library is built with
    // --use_fast_math, which would turn expf into the approximate __expf).
    const float d = static_cast<float>(static_cast<double>(sanitizeLogit(x[i])) - mx);
    sum += static_cast<double>(static_cast<float>(exp(static_cast<double>(d))));
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) sums[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < kGreedyThreads / 32; ++w) total += sums[w];
    p.out[2 * blockIdx.x] = static_cast<double>(bestId);
    p.out[2 * blockIdx.x + 1] = 0.0 - log(total);
  }
}

}  // namespace mamba::kernels
