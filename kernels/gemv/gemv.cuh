// Kernel of launchGemv (gemv.h). Block = 8 warps, one output row per warp per step; the block's
// inputs (B x K) are staged once in shared memory (the gated prologue computes them there).
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/gemv/gemv.h"

namespace mamba::kernels {

constexpr int kGemvThreads = 256;
constexpr int kGemvRowsPerBlock = 8;  // 1 row per warp: more blocks in flight for small M

template <typename T>
__device__ __forceinline__ void unpack16(const uint4& raw, float* v) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < 16 / static_cast<int>(sizeof(T)); ++i) v[i] = toFloat(e[i]);
}

// Shared-memory slot of input (b, k). Lane c of a warp reads the V inputs of chunk c (those its
// 16-byte weight load multiplies) as V/4 float4s; storing part `part` of every chunk
// contiguously makes those float4 reads conflict-free across the warp.
template <int V>
__device__ __forceinline__ int xsIndex(int b, int k, int K) {
  const int c = k / V, i = k % V;
  return b * K + ((i / 4) * (K / V) + c) * 4 + i % 4;
}

template <typename T, int B>
__global__ void __launch_bounds__(kGemvThreads) gemvKernel(GemvParams p) {
  extern __shared__ float xs[];  // (B, K), layout xsIndex
  __shared__ float partial[kGemvThreads / 32];
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte load
  const int K = p.cols;
  if (p.y == nullptr) {
    for (int i = threadIdx.x; i < p.batch * K; i += blockDim.x) {
      const int b = i / K, k = i - b * K;
      xs[xsIndex<V>(b, k, K)] = toFloat(static_cast<const T*>(p.x)[b * p.xStride + k]);
    }
  } else {
    // Gated RMSNorm of each (row, group), in the order of the unfused kernel: v, RMS, scale,
    // round to T.
    const int gw = K / p.groups;
    const T* wn = static_cast<const T*>(p.normWeight);
    for (int b = 0; b < p.batch; ++b) {
      const T* z = static_cast<const T*>(p.z) + b * p.zStride;
      for (int g = 0; g < p.groups; ++g) {
        float ss = 0.f;
        for (int k = g * gw + threadIdx.x; k < (g + 1) * gw; k += blockDim.x) {
          const float v = p.y[b * K + k] * silu(toFloat(z[k]));
          xs[xsIndex<V>(b, k, K)] = v;
          ss += v * v;
        }
        ss = warpSum(ss);
        if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
        __syncthreads();
        float total = 0.f;
#pragma unroll
        for (int w = 0; w < kGemvThreads / 32; ++w) total += partial[w];
        const float inv = rsqrtf(total / static_cast<float>(gw) + p.eps);
        for (int k = g * gw + threadIdx.x; k < (g + 1) * gw; k += blockDim.x) {
          float& x = xs[xsIndex<V>(b, k, K)];
          x = toFloat(fromFloat<T>(x * inv * toFloat(wn[k])));
        }
        __syncthreads();  // `partial` is reused by the next group
      }
    }
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const T* W = static_cast<const T*>(p.weight);
#pragma unroll
  for (int r = 0; r < kGemvRowsPerBlock / (kGemvThreads / 32); ++r) {
    const int m = blockIdx.x * kGemvRowsPerBlock + r * (kGemvThreads / 32) + warp;
    if (m >= p.rows) break;
    const uint4* wrow = reinterpret_cast<const uint4*>(W + static_cast<int64_t>(m) * K);
    float acc[B];
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = 0.f;
#pragma unroll 4
    for (int c = lane; c < K / V; c += 32) {
      float w[V];
      unpack16<T>(wrow[c], w);
#pragma unroll
      for (int b = 0; b < B; ++b) {
        if (b >= p.batch) break;
#pragma unroll
        for (int part = 0; part < V / 4; ++part) {
          const float4 xv = *reinterpret_cast<const float4*>(xs + b * K + (part * (K / V) + c) * 4);
          acc[b] += w[part * 4] * xv.x + w[part * 4 + 1] * xv.y + w[part * 4 + 2] * xv.z + w[part * 4 + 3] * xv.w;
        }
      }
    }
    const float bias = p.bias ? toFloat(static_cast<const T*>(p.bias)[m]) : 0.f;
#pragma unroll
    for (int b = 0; b < B; ++b) {
      if (b >= p.batch) break;
      const float s = warpSum(acc[b]);
      if (lane == 0) static_cast<T*>(p.out)[static_cast<int64_t>(b) * p.rows + m] = fromFloat<T>(s + bias);
    }
  }
}

template <typename T, int B>
void launchGemvBatch(const GemvParams& p, Stream stream) {
  const dim3 grid((p.rows + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock);
  const size_t smem = static_cast<size_t>(gemvSharedBytes(B, p.cols));
  gemvKernel<T, B><<<grid, kGemvThreads, smem, static_cast<cudaStream_t>(stream)>>>(p);
  MAMBA_CUDA_CHECK_LAUNCH();
}

// One instantiation unit per element type. The template batch (1, 2, 4, 8: the CUDA-graph
// buckets) sizes the accumulators; only the first p.batch inputs and outputs are touched.
template <typename T>
void launchGemvTyped(const GemvParams& p, Stream stream) {
  if (p.batch <= 1) return launchGemvBatch<T, 1>(p, stream);
  if (p.batch <= 2) return launchGemvBatch<T, 2>(p, stream);
  if (p.batch <= 4) return launchGemvBatch<T, 4>(p, stream);
  return launchGemvBatch<T, 8>(p, stream);
}

}  // namespace mamba::kernels
