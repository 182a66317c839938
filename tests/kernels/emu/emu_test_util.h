// Helpers of the kernel emulator tests (tests/kernels/emu): seeded random data, element-type
// conversions on the host, and a gtest check with the error it saw.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/common/kernel_types.h"

namespace emu_test {

using mamba::kernels::ElemType;

inline std::mt19937& rng() {
  static std::mt19937 r(1234);
  return r;
}
inline float randn() {
  static std::normal_distribution<float> d;
  return d(rng());
}
inline float urand() {
  static std::uniform_real_distribution<float> d;
  return d(rng());
}
template <typename T> T fromF(float v) { return static_cast<T>(v); }
template <> inline __half fromF<__half>(float v) { return __float2half_rn(v); }
template <> inline __nv_bfloat16 fromF<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> float toF(T v) { return static_cast<float>(v); }
template <typename T> ElemType elemOfT();
template <> inline ElemType elemOfT<float>() { return ElemType::kF32; }
template <> inline ElemType elemOfT<__half>() { return ElemType::kF16; }
template <> inline ElemType elemOfT<__nv_bfloat16>() { return ElemType::kBF16; }
inline double softplusD(double v) { return v > 20 ? v : std::log1p(std::exp(v)); }
inline double siluD(double v) { return v / (1 + std::exp(-v)); }
// Relative tolerance of one rounding to T (fp32 math inside the kernels).
template <typename T> double roundingTol() {
  return std::is_same_v<T, float> ? 1e-5 : std::is_same_v<T, __half> ? 2e-3 : 1.6e-2;
}

inline void check(bool ok, const char* what, double err) { EXPECT_TRUE(ok) << what << " (err " << err << ")"; }

}  // namespace emu_test
