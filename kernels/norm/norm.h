// Normalisation kernels of the Mamba-2 block (spec §4.1, §4.2 step 6), fp32 math.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

// Fused residual add + RMSNorm: residual = assign ? delta : residual + delta (fp32, in place),
// out = residual / sqrt(mean(residual^2) + eps) * weight, rounded once to `elem`.
struct AddRmsNormParams {
  int rows = 0, width = 0;
  float* residual = nullptr;      // (rows, width) fp32
  const void* delta = nullptr;    // (rows, width) of elem, or nullptr (no add)
  bool assign = false;            // residual = delta (the first layer)
  const void* weight = nullptr;   // (width) of elem
  void* out = nullptr;            // (rows, width) of elem
  float eps = 1e-5f;
  ElemType elem = ElemType::kF32;
  // Optional per-row factor of delta, for a delta that is a linear map of unnormalised gated
  // values (the SSD's gated output, ssd_prefill.h): with deltaSumSq set, delta[r] counts times
  // rsqrt(sum_k deltaSumSq[r, k] / deltaNormWidth + deltaEps), k < deltaSumSqParts (summed in a
  // fixed order). Unset, delta counts as it is (the decode products copy that order bit for bit).
  const float* deltaSumSq = nullptr;  // (rows, deltaSumSqParts) fp32
  int deltaSumSqParts = 0;
  int deltaNormWidth = 0;
  float deltaEps = 1e-5f;
  // Lets the launcher take the one-warp-per-row vector kernel where rows, shapes and alignment
  // allow (the same function up to summation order); false: the two-pass kernel always.
  bool allowVector = true;
};
void launchAddRmsNorm(const AddRmsNormParams& p, Stream stream);

// Gated RMSNorm: v = y * silu(z); each group of width/groups channels is divided by its RMS;
// out = v * weight, rounded to `elem`.
struct GatedRmsNormParams {
  int rows = 0, width = 0, groups = 1;
  const float* y = nullptr;       // (rows, width) fp32
  const void* z = nullptr;        // (rows, zStride) of elem; channel c at column c
  int64_t zStride = 0;
  const void* weight = nullptr;   // (width) of elem
  void* out = nullptr;            // (rows, width) of elem
  float eps = 1e-5f;
  ElemType elem = ElemType::kF32;
  // Lets the launcher read each row once in 16-byte vectors where the shapes and alignment
  // allow (same function, another summation order); false: the two-pass kernel (tests, A/B).
  bool allowVector = true;
};
void launchGatedRmsNorm(const GatedRmsNormParams& p, Stream stream);

}  // namespace mamba::kernels
