// Kernels of norm.h: one block per row (per row and group for the gated norm), block reduction
// through shared memory. addRmsNormKernel and gatedRmsNormKernel make two passes over the row
// (sum of squares, then scale; the decode GEMV prologues copy addRmsNormKernel's order bit for
// bit); gatedRmsNormVecKernel reads its row once, 8 channels per thread in 16-byte vectors.
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/norm/norm.h"

namespace mamba::kernels {

constexpr int kNormThreads = 256;

// Sum over the block (fixed order); every thread gets it.
__device__ __forceinline__ float blockSum(float v) {
  __shared__ float partial[kNormThreads / 32];
  __shared__ float total;
  v = warpSum(v);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    float s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.f;
    s = warpSum(s);
    if (threadIdx.x == 0) total = s;
  }
  __syncthreads();
  return total;
}

template <typename T>
__global__ void addRmsNormKernel(AddRmsNormParams p) {
  pdlEnter();
  const int64_t row = blockIdx.x;
  float* res = p.residual + row * p.width;
  const T* delta = p.delta ? static_cast<const T*>(p.delta) + row * p.width : nullptr;
  float scale = 1.f;  // exact: delta * 1 + residual rounds as delta + residual
  if (p.deltaSumSq != nullptr) {  // every warp sums all parts itself (same order): no block barrier
    float part = 0.f;
    for (int k = threadIdx.x % 32; k < p.deltaSumSqParts; k += 32) part += p.deltaSumSq[row * p.deltaSumSqParts + k];
    scale = rsqrtf(warpSum(part) / static_cast<float>(p.deltaNormWidth) + p.deltaEps);
  }
  float ss = 0.f;
  for (int i = threadIdx.x; i < p.width; i += blockDim.x) {
    float v = delta ? toFloat(delta[i]) * scale : 0.f;
    v = p.assign ? v : res[i] + v;
    res[i] = v;
    ss += v * v;
  }
  const float inv = rsqrtf(blockSum(ss) / static_cast<float>(p.width) + p.eps);
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out) + row * p.width;
  for (int i = threadIdx.x; i < p.width; i += blockDim.x) out[i] = fromFloat<T>(res[i] * inv * toFloat(w[i]));
}

template <typename T>
__global__ void gatedRmsNormKernel(GatedRmsNormParams p) {
  pdlEnter();
  const int64_t row = blockIdx.x;
  const int gw = p.width / p.groups, c0 = blockIdx.y * gw;
  const float* y = p.y + row * p.width + c0;
  const T* z = static_cast<const T*>(p.z) + row * p.zStride + c0;
  float ss = 0.f;
  for (int i = threadIdx.x; i < gw; i += blockDim.x) {
    const float v = y[i] * silu(toFloat(z[i]));
    ss += v * v;
  }
  const float inv = rsqrtf(blockSum(ss) / static_cast<float>(gw) + p.eps);
  const T* w = static_cast<const T*>(p.weight) + c0;
  T* out = static_cast<T*>(p.out) + row * p.width + c0;
  for (int i = threadIdx.x; i < gw; i += blockDim.x) {
    out[i] = fromFloat<T>(y[i] * silu(toFloat(z[i])) * inv * toFloat(w[i]));
  }
}

// Channels per thread of gatedRmsNormVecKernel.
constexpr int kGatedNormVec = 8;

// The gated norm of one (row, group) with each thread holding 8 adjacent channels in registers:
// one read of y, z and the weight, one write. Needs gatedNormVectorizable(p). Block size: the
// group's width / 8 rounded up to whole warps (threads past it hold zeros).
template <typename T>
__global__ void gatedRmsNormVecKernel(GatedRmsNormParams p) {
  constexpr int V = kGatedNormVec;
  pdlEnter();
  __shared__ float partial[32];
  const int64_t row = blockIdx.x;
  const int gw = p.width / p.groups, c = blockIdx.y * gw + threadIdx.x * V;
  const bool real = static_cast<int>(threadIdx.x) * V < gw;
  float v[V];
  float ss = 0.f;
  if (real) {
    const float4 y0 = *reinterpret_cast<const float4*>(p.y + row * p.width + c);
    const float4 y1 = *reinterpret_cast<const float4*>(p.y + row * p.width + c + 4);
    const Pack<T, V> z = *reinterpret_cast<const Pack<T, V>*>(static_cast<const T*>(p.z) + row * p.zStride + c);
    const float ys[V] = {y0.x, y0.y, y0.z, y0.w, y1.x, y1.y, y1.z, y1.w};
#pragma unroll
    for (int j = 0; j < V; ++j) {
      v[j] = ys[j] * silu(toFloat(z.v[j]));
      ss += v[j] * v[j];
    }
  }
  ss = warpSum(ss);
  const int warps = blockDim.x / 32;
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < warps; ++w) total += partial[w];  // same order in every thread
  if (!real) return;
  const float inv = rsqrtf(total / static_cast<float>(gw) + p.eps);
  const Pack<T, V> w = *reinterpret_cast<const Pack<T, V>*>(static_cast<const T*>(p.weight) + c);
  Pack<T, V> out;
#pragma unroll
  for (int j = 0; j < V; ++j) out.v[j] = fromFloat<T>(v[j] * inv * toFloat(w.v[j]));
  *reinterpret_cast<Pack<T, V>*>(static_cast<T*>(p.out) + row * p.width + c) = out;
}

// Whether gatedRmsNormVecKernel may run: groups of whole 8-channel vectors (at most 32 warps of
// them), y, z, out and the weight aligned to the vector size.
template <typename T>
bool gatedNormVectorizable(const GatedRmsNormParams& p) {
  // Vectors are alignof(Pack) apart (16 bytes, 32 for fp32) from each row's 16-byte aligned start.
  constexpr size_t kAlign = alignof(Pack<T, kGatedNormVec>);
  const int gw = p.width / p.groups;
  return p.allowVector && gw % kGatedNormVec == 0 && gw / kGatedNormVec <= 1024 && p.zStride % kGatedNormVec == 0 &&
         isAligned(p.y, kAlign) && isAligned(p.z, kAlign) && isAligned(p.weight, kAlign) && isAligned(p.out, kAlign);
}

template <typename T>
void launchAddRmsNormTyped(const AddRmsNormParams& p, Stream stream) {
  if (p.rows == 0) return;
  launchKernel(addRmsNormKernel<T>, dim3(p.rows), dim3(kNormThreads), 0, static_cast<cudaStream_t>(stream), p);
}

template <typename T>
void launchGatedRmsNormTyped(const GatedRmsNormParams& p, Stream stream) {
  if (p.rows == 0) return;
  dim3 grid(p.rows, p.groups);
  if (gatedNormVectorizable<T>(p)) {
    const int threads = (p.width / p.groups / kGatedNormVec + 31) / 32 * 32;
    launchKernel(gatedRmsNormVecKernel<T>, grid, dim3(threads), 0, static_cast<cudaStream_t>(stream), p);
  } else {
    launchKernel(gatedRmsNormKernel<T>, grid, dim3(kNormThreads), 0, static_cast<cudaStream_t>(stream), p);
  }
}

}  // namespace mamba::kernels
