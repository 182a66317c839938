// Kernels of norm.h: one block per row (per row and group for the gated norm); two passes
// over the row (sum of squares, then scale), block reduction through shared memory.
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/norm/norm.h"

namespace mamba::kernels {

constexpr int kNormThreads = 256;

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
  float ss = 0.f;
  for (int i = threadIdx.x; i < p.width; i += blockDim.x) {
    float v = delta ? toFloat(delta[i]) : 0.f;
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

template <typename T>
void launchAddRmsNormTyped(const AddRmsNormParams& p, Stream stream) {
  if (p.rows == 0) return;
  launchKernel(addRmsNormKernel<T>, dim3(p.rows), dim3(kNormThreads), 0, static_cast<cudaStream_t>(stream), p);
}

template <typename T>
void launchGatedRmsNormTyped(const GatedRmsNormParams& p, Stream stream) {
  if (p.rows == 0) return;
  dim3 grid(p.rows, p.groups);
  launchKernel(gatedRmsNormKernel<T>, grid, dim3(kNormThreads), 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace mamba::kernels
