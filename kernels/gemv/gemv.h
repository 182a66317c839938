// Small-batch matrix-vector products of decode (batch <= kGemvMaxBatch), optionally with the
// gated RMSNorm fused in front (spec §4.2 step 6 + out_proj), so a layer's tail is one kernel:
//
//   plain:  out[b, m] = sum_k W[m, k] * x[b, k] + bias[m]
//   gated:  v = y * silu(z); each group of K/groups channels divided by its RMS; v *= normWeight,
//           rounded to `elem` (as the unfused gated norm writes it); then the plain product on v.
//
// At decode batch sizes the product is bound by reading W once (bytes, not FLOPs): every warp
// streams whole rows of W with 16-byte loads and reuses each load for all B inputs, staged in
// shared memory as fp32. Accumulation is fp32; out is rounded once to `elem`.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

constexpr int kGemvMaxBatch = 8;
// Dynamic shared memory the kernel may use without opting in: 48 KiB less the kernel's own
// static shared memory (a launch over the limit fails with "invalid argument").
constexpr int64_t kGemvMaxSharedBytes = 48 * 1024 - 256;

struct GemvParams {
  int batch = 0, rows = 0, cols = 0;  // B <= kGemvMaxBatch, M, K (K % (16 / sizeof(elem)) == 0)
  const void* weight = nullptr;       // (M, K) of elem, row-major, 16-byte aligned
  const void* bias = nullptr;         // (M) of elem or nullptr
  const void* x = nullptr;            // plain: (B, xStride) of elem, input k at column k
  int64_t xStride = 0;
  // Gated prologue (used when y != nullptr; x is then ignored):
  const float* y = nullptr;           // (B, K) fp32
  const void* z = nullptr;            // (B, zStride) of elem, channel k at column k
  int64_t zStride = 0;
  const void* normWeight = nullptr;   // (K) of elem
  int groups = 1;
  float eps = 1e-5f;
  void* out = nullptr;                // (B, M) of elem
  ElemType elem = ElemType::kF32;
};

// Shared-memory bytes the kernel needs for `batch` rows: B * K fp32 inputs, B rounded up to
// the instantiated batch (1, 2, 4, 8); must be <= kGemvMaxSharedBytes.
int64_t gemvSharedBytes(int batch, int cols);
void launchGemv(const GemvParams& p, Stream stream);

}  // namespace mamba::kernels
