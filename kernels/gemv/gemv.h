// Small-batch matrix-vector products of decode (batch <= kGemvMaxBatch), with an optional
// prologue that computes the inputs and an optional epilogue that consumes the outputs, so a
// layer at small batch is three kernels (in_proj + norm + conv, SSM step, out_proj + gated
// norm + residual):
//
//   product:  out[b, m] = sum_k W[m, k] * u[b, k] + bias[m], fp32 accumulation, rounded once
//             to `elem`; u is
//     kNone:         x as given (elem)
//     kGatedRmsNorm: v = y * silu(z); each group of K/groups channels divided by its RMS;
//                    v *= normWeight, rounded to `elem` (as the unfused gated norm writes it)
//     kRmsNorm:      normInput[b] / sqrt(mean(normInput[b]^2) + eps) * normWeight, rounded to
//                    `elem`, bit for bit what launchAddRmsNorm (kernels/norm) writes for it
//   then
//     kStore:         out[b, m] = product
//     kStoreConvStep: kStore, and rows [conv.row0, conv.row0 + conv.channels) are also the raw
//                     inputs of the conv decode step (kernels/conv_step): channel c = m - row0
//                     is stepped exactly as launchConvStep does, by the warp that owns row m
//     kResidualAdd:   residual[b, m] += product (fp32, in place; the rounded value is added)
//
// At decode batch sizes the product is bound by reading W once (bytes, not FLOPs): every warp
// streams whole rows of W with 16-byte loads and reuses each load for all B inputs, staged in
// shared memory as fp32. Each output element has exactly one owning warp and lane, so the
// in-place epilogues (conv state, residual) have no races.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

constexpr int kGemvMaxBatch = 8;
// Dynamic shared memory the kernel may use without opting in: 48 KiB less room for the kernel's
// own static shared memory (256 bytes of reduction partials; a launch over the limit fails
// with "invalid argument").
constexpr int64_t kGemvMaxSharedBytes = 48 * 1024 - 512;

enum class GemvPrologue { kNone, kGatedRmsNorm, kRmsNorm };
enum class GemvEpilogue { kStore, kStoreConvStep, kResidualAdd };

// The conv decode step of kStoreConvStep (the fields of ConvStepParams; its input is the
// product's rows [row0, row0 + channels), rounded to elem).
struct GemvConvStep {
  int row0 = 0, channels = 0, kernelSize = 0;  // kernelSize in 1..16
  float* state = nullptr;          // (numSlots, channels, kernelSize) fp32, newest last
  const int32_t* slots = nullptr;  // (batch); s < 0: padding row, state untouched, out = 0
  const float* weight = nullptr;   // (channels, kernelSize)
  const float* bias = nullptr;     // (channels) or nullptr
  float* out = nullptr;            // (batch, channels) fp32: silu(conv)
};

struct GemvParams {
  int batch = 0, rows = 0, cols = 0;  // B <= kGemvMaxBatch, M, K (K % (16 / sizeof(elem)) == 0)
  const void* weight = nullptr;       // (M, K) of elem, row-major, 16-byte aligned
  const void* bias = nullptr;         // (M) of elem or nullptr
  GemvPrologue prologue = GemvPrologue::kNone;
  // kNone:
  const void* x = nullptr;            // (B, xStride) of elem, input k at column k
  int64_t xStride = 0;
  // kGatedRmsNorm:
  const float* y = nullptr;           // (B, K) fp32
  const void* z = nullptr;            // (B, zStride) of elem, channel k at column k
  int64_t zStride = 0;
  int groups = 1;
  // kRmsNorm:
  const float* normInput = nullptr;   // (B, K) fp32, read only (the residual stream)
  // kGatedRmsNorm and kRmsNorm:
  const void* normWeight = nullptr;   // (K) of elem
  float eps = 1e-5f;
  GemvEpilogue epilogue = GemvEpilogue::kStore;
  void* out = nullptr;                // kStore, kStoreConvStep: (B, M) of elem
  float* residual = nullptr;          // kResidualAdd: (B, M) fp32
  GemvConvStep conv;                  // kStoreConvStep
  ElemType elem = ElemType::kF32;
};

// Shared-memory bytes the kernel needs for `batch` rows: B * K fp32 inputs, B rounded up to
// the instantiated batch (1, 2, 4, 8); must be <= kGemvMaxSharedBytes.
int64_t gemvSharedBytes(int batch, int cols);
void launchGemv(const GemvParams& p, Stream stream);

}  // namespace mamba::kernels
