// Kernels of norm.h: one block per row (per row and group for the gated norm), block reduction
// through shared memory. addRmsNormKernel and gatedRmsNormKernel make two passes over the row
// (sum of squares, then scale; the decode GEMV prologues copy addRmsNormKernel's order bit for
// bit); gatedRmsNormVecKernel reads its row once, 8 channels per thread in 16-byte vectors;
// addRmsNormVecKernel, for prefill's many rows, gives each row one warp and 16-byte vectors.
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

// The factor of delta's row (AddRmsNormParams::deltaSumSq), summed by each warp in one fixed
// order; 1 without sums (exact: delta * 1 + residual rounds as delta + residual).
__device__ __forceinline__ float deltaRowFactor(const AddRmsNormParams& p, int64_t row) {
  if (p.deltaSumSq == nullptr) return 1.f;
  float part = 0.f;
  for (int k = threadIdx.x % 32; k < p.deltaSumSqParts; k += 32) part += p.deltaSumSq[row * p.deltaSumSqParts + k];
  return rsqrtf(warpSum(part) / static_cast<float>(p.deltaNormWidth) + p.deltaEps);
}

template <typename T>
__global__ void addRmsNormKernel(AddRmsNormParams p) {
  pdlEnter();
  const int64_t row = blockIdx.x;
  float* res = p.residual + row * p.width;
  const T* delta = p.delta ? static_cast<const T*>(p.delta) + row * p.width : nullptr;
  const float scale = deltaRowFactor(p, row);  // every warp sums the parts itself: no block barrier
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

// Component i (0..3) of v; with i known at compile time this is a register, not a memory index.
__device__ __forceinline__ float float4At(const float4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Channels per lane and chunk of addRmsNormVecKernel, and chunks loaded before any is used.
constexpr int kAddNormVec = 8;
constexpr int kAddNormChunks = 4;

// addRmsNormKernel's function (up to summation order) with one warp per row: lane l owns the
// 8-channel chunks l, l + 32, ..., reading kAddNormChunks of them (residual, delta) before
// using any, writing the residual, then (after the warp's sum) re-reading its own residual
// writes for the output. Needs addNormVectorizable(p); block = kNormThreads threads, one row
// per warp.
template <typename T>
__global__ void __launch_bounds__(kNormThreads) addRmsNormVecKernel(AddRmsNormParams p) {
  constexpr int V = kAddNormVec;
  pdlEnter();
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kNormThreads / 32) + threadIdx.x / 32;
  if (row >= p.rows) return;
  float* res = p.residual + row * p.width;
  const T* delta = p.delta ? static_cast<const T*>(p.delta) + row * p.width : nullptr;
  const float scale = deltaRowFactor(p, row);
  float ss = 0.f;
  for (int base = lane * V; base < p.width; base += 32 * V * kAddNormChunks) {
    float4 r[kAddNormChunks][2];
    Pack<T, V> d[kAddNormChunks];
#pragma unroll
    for (int k = 0; k < kAddNormChunks; ++k) {
      const int c = base + k * 32 * V;
      if (c >= p.width) break;
      r[k][0] = r[k][1] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (!p.assign) {
        r[k][0] = *reinterpret_cast<const float4*>(res + c);
        r[k][1] = *reinterpret_cast<const float4*>(res + c + 4);
      }
      if (delta) d[k] = *reinterpret_cast<const Pack<T, V>*>(delta + c);
    }
#pragma unroll
    for (int k = 0; k < kAddNormChunks; ++k) {
      const int c = base + k * 32 * V;
      if (c >= p.width) break;
      float v[V];
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float x = delta ? toFloat(d[k].v[j]) * scale : 0.f;
        const float rj = float4At(r[k][j / 4], j % 4);
        v[j] = p.assign ? x : rj + x;
        ss += v[j] * v[j];
      }
      *reinterpret_cast<float4*>(res + c) = make_float4(v[0], v[1], v[2], v[3]);
      *reinterpret_cast<float4*>(res + c + 4) = make_float4(v[4], v[5], v[6], v[7]);
    }
  }
  const float inv = rsqrtf(warpSum(ss) / static_cast<float>(p.width) + p.eps);
  const T* w = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out) + row * p.width;
  for (int c = lane * V; c < p.width; c += 32 * V) {
    const float4 r0 = *reinterpret_cast<const float4*>(res + c), r1 = *reinterpret_cast<const float4*>(res + c + 4);
    const Pack<T, V> wv = *reinterpret_cast<const Pack<T, V>*>(w + c);
    const float v[V] = {r0.x, r0.y, r0.z, r0.w, r1.x, r1.y, r1.z, r1.w};
    Pack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) o.v[j] = fromFloat<T>(v[j] * inv * toFloat(wv.v[j]));
    *reinterpret_cast<Pack<T, V>*>(out + c) = o;
  }
}

// Rows from which addRmsNormVecKernel may run: fewer (every decode batch) keep the two-pass
// kernel, whose order the decode products copy bit for bit.
constexpr int kAddNormVecMinRows = 1024;

// Whether addRmsNormVecKernel may run: enough rows, whole 8-channel vectors, 16-byte aligned
// rows of the residual and of delta, weight and out at the vector's alignment.
template <typename T>
bool addNormVectorizable(const AddRmsNormParams& p) {
  constexpr size_t kAlign = alignof(Pack<T, kAddNormVec>);
  return p.allowVector && p.rows >= kAddNormVecMinRows && p.width % kAddNormVec == 0 && isAligned(p.residual, 16) &&
         (p.delta == nullptr || isAligned(p.delta, kAlign)) && isAligned(p.weight, kAlign) && isAligned(p.out, kAlign);
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
  const auto s = static_cast<cudaStream_t>(stream);
  if (addNormVectorizable<T>(p)) {
    constexpr int kRowsPerBlock = kNormThreads / 32;
    launchKernel(addRmsNormVecKernel<T>, dim3((p.rows + kRowsPerBlock - 1) / kRowsPerBlock), dim3(kNormThreads), 0, s,
                 p);
  } else {
    launchKernel(addRmsNormKernel<T>, dim3(p.rows), dim3(kNormThreads), 0, s, p);
  }
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
