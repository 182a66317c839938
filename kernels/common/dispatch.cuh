// The one element-type dispatch used by every kernel family: ElemType -> C++ type, plus
// float conversion helpers for device code.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

template <ElemType E> struct ElemOf;
template <> struct ElemOf<ElemType::kF32> { using type = float; };
template <> struct ElemOf<ElemType::kF16> { using type = __half; };
template <> struct ElemOf<ElemType::kBF16> { using type = __nv_bfloat16; };

__device__ __forceinline__ float toFloat(float v) { return v; }
__device__ __forceinline__ float toFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T fromFloat(float v);
template <> __device__ __forceinline__ float fromFloat<float>(float v) { return v; }
template <> __device__ __forceinline__ __half fromFloat<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Whether p is a multiple of `bytes` (the launchers' test before choosing vector accesses).
__host__ __device__ inline bool isAligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// V elements of T moved as one aligned vector (V * sizeof(T) in 4, 8, 16 or 32 bytes).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float softplus(float v) { return v > 20.f ? v : log1pf(__expf(v)); }
__device__ __forceinline__ float silu(float v) { return v / (1.f + __expf(-v)); }
// silu with the fast division (about 2 ulp, no IEEE division sequence): for issue-bound
// epilogues whose result is rounded to bf16/fp16 anyway. 0 for very negative v, as silu.
__device__ __forceinline__ float siluFast(float v) { return __fdividef(v, 1.f + __expf(-v)); }

}  // namespace mamba::kernels

// Expands `body` with `T` bound to the C++ type of `elem` (an ElemType value).
#define MAMBA_DISPATCH_ELEM(elem, ...)                                              \
  switch (elem) {                                                                   \
    case ::mamba::kernels::ElemType::kF32: { using T = float; __VA_ARGS__; break; } \
    case ::mamba::kernels::ElemType::kF16: { using T = __half; __VA_ARGS__; break; } \
    case ::mamba::kernels::ElemType::kBF16: { using T = __nv_bfloat16; __VA_ARGS__; break; } \
  }
