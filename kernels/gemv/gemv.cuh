// Kernel of launchGemv (gemv.h). Block = 8 warps, one output row per warp per step; the block's
// inputs (B x K) are staged once in shared memory (the prologues compute them there), and the
// lane b of a row's warp runs the epilogue of (b, row).
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/conv_step/conv_step.cuh"
#include "kernels/gemv/gemv.h"
#include "kernels/norm/norm.cuh"

namespace mamba::kernels {

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvRowsPerBlock = 8;  // 1 row per warp: more blocks in flight for small M
// 16-byte weight loads per lane issued before pdlEnter(): a whole row of K <= 2048 (bf16/fp16)
// or 1024 (fp32), the model's widest GEMV input (Mamba2Model::kGemvMaxDInner).
constexpr int kGemvPrefetch = 8;
static_assert(kGemvRowsPerBlock == kGemvWarps, "one row per warp");
// The kRmsNorm prologue reproduces addRmsNormKernel's reduction tree, which is fixed by its
// block size.
static_assert(kGemvThreads == kNormThreads, "the RMSNorm prologue must reduce like addRmsNormKernel");
static_assert(kGemvMaxBatch <= 32, "the epilogue runs batch b on lane b");

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

// Gated RMSNorm of each (row, group), in the order of the unfused kernel: v, RMS, scale, round.
template <typename T, int V>
__device__ __forceinline__ void gatedRmsNormPrologue(const GemvParams& p, float* xs, float* partial) {
  const int K = p.cols, gw = K / p.groups;
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
      for (int w = 0; w < kGemvWarps; ++w) total += partial[w];
      const float inv = rsqrtf(total / static_cast<float>(gw) + p.eps);
      for (int k = g * gw + threadIdx.x; k < (g + 1) * gw; k += blockDim.x) {
        float& x = xs[xsIndex<V>(b, k, K)];
        x = toFloat(fromFloat<T>(x * inv * toFloat(wn[k])));
      }
      __syncthreads();  // `partial` is reused by the next group
    }
  }
}

// RMSNorm of each row with addRmsNormKernel's arithmetic (same thread stride, same warp and
// block reduction, same scaling order), so the inputs equal its rounded output bit for bit.
// All rows are reduced at once (partial holds B x 8 warp sums).
template <typename T, int V, int B>
__device__ __forceinline__ void rmsNormPrologue(const GemvParams& p, float* xs, float* partial) {
  const int K = p.cols, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float ss[B];
#pragma unroll
  for (int b = 0; b < B; ++b) ss[b] = 0.f;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
#pragma unroll
    for (int b = 0; b < B; ++b) {
      if (b >= p.batch) break;
      const float v = p.normInput[b * K + k];
      xs[xsIndex<V>(b, k, K)] = v;
      ss[b] += v * v;
    }
  }
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= p.batch) break;
    const float s = warpSum(ss[b]);
    if (lane == 0) partial[b * kGemvWarps + warp] = s;
  }
  __syncthreads();
  float inv[B];
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= p.batch) break;
    const float total = warpSum(lane < kGemvWarps ? partial[b * kGemvWarps + lane] : 0.f);
    inv[b] = rsqrtf(total / static_cast<float>(K) + p.eps);
  }
  const T* wn = static_cast<const T*>(p.normWeight);
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    const float w = toFloat(wn[k]);
#pragma unroll
    for (int b = 0; b < B; ++b) {
      if (b >= p.batch) break;
      float& x = xs[xsIndex<V>(b, k, K)];
      x = toFloat(fromFloat<T>(x * inv[b] * w));
    }
  }
}

// acc[b] += sum over the V weights of one 16-byte load (chunk c of the row) times inputs b.
template <typename T, int B, int V>
__device__ __forceinline__ void gemvChunk(const uint4& raw, const float* xs, int c, int K, int batch, float* acc) {
  float w[V];
  unpack16<T>(raw, w);
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= batch) break;
#pragma unroll
    for (int part = 0; part < V / 4; ++part) {
      const float4 xv = *reinterpret_cast<const float4*>(xs + b * K + (part * (K / V) + c) * 4);
      acc[b] += w[part * 4] * xv.x + w[part * 4 + 1] * xv.y + w[part * 4 + 2] * xv.z + w[part * 4 + 3] * xv.w;
    }
  }
}

template <typename T, int B>
__global__ void __launch_bounds__(kGemvThreads) gemvKernel(GemvParams p) {
  extern __shared__ float xs[];  // (B, K), layout xsIndex
  __shared__ float partial[kGemvMaxBatch * kGemvWarps];
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte load
  const int K = p.cols, chunks = K / V;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int m = blockIdx.x * kGemvRowsPerBlock + warp;
  const bool hasRow = m < p.rows;
  // The weights are constant: the first kGemvPrefetch loads of the warp's row are issued before
  // pdlEnter(), so they overlap the previous kernel instead of following it.
  const uint4* wrow = reinterpret_cast<const uint4*>(static_cast<const T*>(p.weight) +
                                                      static_cast<int64_t>(hasRow ? m : 0) * K);
  uint4 pre[kGemvPrefetch];
#pragma unroll
  for (int i = 0; i < kGemvPrefetch; ++i) {
    const int c = lane + 32 * i;
    pre[i] = hasRow && c < chunks ? __ldg(wrow + c) : make_uint4(0, 0, 0, 0);
  }
  pdlEnter();
  if (p.prologue == GemvPrologue::kNone) {
    for (int i = threadIdx.x; i < p.batch * K; i += blockDim.x) {
      const int b = i / K, k = i - b * K;
      xs[xsIndex<V>(b, k, K)] = toFloat(static_cast<const T*>(p.x)[b * p.xStride + k]);
    }
  } else if (p.prologue == GemvPrologue::kGatedRmsNorm) {
    gatedRmsNormPrologue<T, V>(p, xs, partial);
  } else {
    rmsNormPrologue<T, V, B>(p, xs, partial);
  }
  __syncthreads();
  if (!hasRow) return;

  float acc[B];
#pragma unroll
  for (int b = 0; b < B; ++b) acc[b] = 0.f;
  // Chunks in the same order as one strided loop (c = lane, lane + 32, ...): the prefetched
  // ones, then the rest of the row.
#pragma unroll
  for (int i = 0; i < kGemvPrefetch; ++i) {
    const int c = lane + 32 * i;
    if (c < chunks) gemvChunk<T, B, V>(pre[i], xs, c, K, p.batch, acc);
  }
#pragma unroll 4
  for (int c = lane + 32 * kGemvPrefetch; c < chunks; c += 32) gemvChunk<T, B, V>(__ldg(wrow + c), xs, c, K, p.batch, acc);
  // Every lane holds every sum after the butterfly; lane b keeps batch b's rounded output.
  const float bias = p.bias ? toFloat(static_cast<const T*>(p.bias)[m]) : 0.f;
  float mine = 0.f;
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= p.batch) break;
    const float s = toFloat(fromFloat<T>(warpSum(acc[b]) + bias));
    if (lane == b) mine = s;
  }
  if (lane >= p.batch) return;
  const int b = lane;
  const int64_t o = static_cast<int64_t>(b) * p.rows + m;
  if (p.epilogue == GemvEpilogue::kResidualAdd) {
    p.residual[o] += mine;
    return;
  }
  static_cast<T*>(p.out)[o] = fromFloat<T>(mine);
  const GemvConvStep& cv = p.conv;
  const int c = m - cv.row0;
  if (p.epilogue == GemvEpilogue::kStoreConvStep && c >= 0 && c < cv.channels) {
    const int slot = cv.slots[b];
    const int Kc = cv.kernelSize;
    cv.out[static_cast<int64_t>(b) * cv.channels + c] =
        slot < 0 ? 0.f
                 : convStepChannel(cv.state + (static_cast<int64_t>(slot) * cv.channels + c) * Kc,
                                   cv.weight + static_cast<int64_t>(c) * Kc, cv.bias ? cv.bias[c] : 0.f, mine, Kc);
  }
}

template <typename T, int B>
void launchGemvBatch(const GemvParams& p, Stream stream) {
  const dim3 grid((p.rows + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock);
  const size_t smem = static_cast<size_t>(gemvSharedBytes(B, p.cols));
  launchKernel(gemvKernel<T, B>, grid, dim3(kGemvThreads), smem, static_cast<cudaStream_t>(stream), p);
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
