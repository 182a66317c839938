// Kernels of launchGreedyPick (greedy.h): per (row, chunk) block an online max / sum of
// exponentials, then one warp per row merging the chunks in order.
#pragma once

#include <cfloat>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/greedy/greedy.h"

namespace mamba::kernels {

constexpr int kGreedyThreads = 256;

__device__ __forceinline__ float sanitizeLogit(float v) {
  if (isnan(v)) return -INFINITY;
  return v == INFINITY ? FLT_MAX : v;
}

// Running (max m, lowest id of m, sum of exp(x - m)); m = -inf with sum 0 means "empty".
struct GreedyAcc {
  double m = -INFINITY;
  int id = 0x7fffffff;
  double sum = 0.0;

  __device__ __forceinline__ void add(double v, int i) {
    if (v == -INFINITY) return;  // contributes exp(-inf) = 0 and is never the maximum
    if (v > m) {
      sum = sum * exp(m - v) + 1.0;  // exp(-inf) = 0 for the first entry
      m = v;
      id = i;
    } else {
      sum += exp(v - m);
      if (v == m && i < id) id = i;
    }
  }
  // Merges another accumulator (any order gives the same max and id; sums in call order).
  __device__ __forceinline__ void merge(const GreedyAcc& o) {
    if (o.m == -INFINITY) return;
    if (m == -INFINITY) {
      *this = o;
      return;
    }
    if (o.m > m) {
      sum = sum * exp(m - o.m) + o.sum;
      m = o.m;
      id = o.id;
    } else {
      sum += o.sum * exp(o.m - m);
      if (o.m == m && o.id < id) id = o.id;
    }
  }
  __device__ __forceinline__ GreedyAcc shflXor(int o) const {
    GreedyAcc r;
    r.m = __shfl_xor_sync(0xffffffffu, m, o);
    r.id = __shfl_xor_sync(0xffffffffu, id, o);
    r.sum = __shfl_xor_sync(0xffffffffu, sum, o);
    return r;
  }
};

// Grid (chunks, rows).
__global__ void __launch_bounds__(kGreedyThreads) greedyChunkKernel(GreedyPickParams p) {
  pdlEnter();
  __shared__ GreedyAcc part[kGreedyThreads / 32];
  const int row = blockIdx.y, chunk = blockIdx.x;
  const int per = (p.vocab + p.chunks - 1) / p.chunks;
  const int begin = chunk * per, end = min(p.vocab, begin + per);
  const float* x = p.logits + static_cast<int64_t>(row) * p.stride;
  GreedyAcc acc;
  for (int i = begin + threadIdx.x; i < end; i += blockDim.x) acc.add(sanitizeLogit(x[i]), i);
  for (int o = 16; o > 0; o >>= 1) acc.merge(acc.shflXor(o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) part[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    GreedyAcc total = part[0];
    for (int w = 1; w < kGreedyThreads / 32; ++w) total.merge(part[w]);
    double* s = p.scratch + (static_cast<int64_t>(row) * p.chunks + chunk) * 3;
    s[0] = total.m;
    s[1] = static_cast<double>(total.id);
    s[2] = total.sum;
  }
}

// Grid (rows), one warp: lane c merges chunks c, c + 32, ... in order, then the lanes merge in
// a fixed butterfly.
__global__ void __launch_bounds__(32) greedyMergeKernel(GreedyPickParams p) {
  pdlEnter();
  const int row = blockIdx.x;
  const double* s = p.scratch + static_cast<int64_t>(row) * p.chunks * 3;
  GreedyAcc acc;
  for (int c = threadIdx.x; c < p.chunks; c += 32) {
    GreedyAcc o;
    o.m = s[3 * c];
    o.id = static_cast<int>(s[3 * c + 1]);
    o.sum = s[3 * c + 2];
    acc.merge(o);
  }
  for (int o = 16; o > 0; o >>= 1) acc.merge(acc.shflXor(o));
  if (threadIdx.x == 0) {
    const bool dead = acc.m == -INFINITY;
    p.out[2 * row] = dead ? 0.0 : static_cast<double>(acc.id);
    p.out[2 * row + 1] = dead ? -INFINITY : 0.0 - log(acc.sum);
  }
}

}  // namespace mamba::kernels
