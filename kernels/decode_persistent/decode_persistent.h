// Persistent small-batch decode: every layer of one decode step (spec §5: RMSNorm, in_proj,
// conv step, dt, SSM state update, gated RMSNorm, out_proj, residual add) in ONE launch of one
// CTA per SM, the layers' phases separated by grid-wide barriers.
//
// Why: at batch 1 the step is latency-bound. The three-kernel layer (fused in_proj + conv, SSM
// step, fused out_proj) costs ~12 us per layer in the chain for ~7.5 MB of weights (~2 us at
// copy bandwidth); the idea is that most of it is kernel boundaries. Here a layer is three
// phases, a phase boundary is a grid barrier, and each CTA's weight slices for a phase are
// copied into shared memory one or two phases ahead (cp.async).
//
// Status: correct (tests/model/gpu_model_test.cc) but SLOWER, so the model runs it only on
// request (MAMBA_DECODE_PERSISTENT=1). H200, 130m bf16, graph decode: 0.533 / 0.651 / 0.875 /
// 1.316 ms at batch 1 / 2 / 4 / 8 against the fused layers' 0.325 / 0.343 / 0.374 / 0.430
// (bench/results/h200_2026-12-01/session11, run9). Nsight Compute at batch 1 (20 us per layer):
// about half the time the CTAs wait in the grid barriers (3 per layer) for the slowest CTA of
// the phase; a batch-1 design that wins needs far fewer grid-wide synchronisations.
//
// Per layer l (N = layers[l].stateSize, CD = Di + 2 G N, DIP = 2 Di + 2 G N + H), for batch row
// b with slot s = slots[b] (s < 0: a padding row: no state is touched, its residual still
// advances with y = 0):
//   phase 1 (in_proj rows split over CTAs): u = round(RMSNorm(residual[b]) * norm);
//     zxbcdt = round(u in_proj^T + bias); z kept; xBC through the conv step (conv state in
//     place); dt = clamp(softplus(dtRaw + dtBias), dtMin, dtMax).
//   phase 2 (state rows (b, h, p) split over CTAs): S = S exp(dt A) + dt x B^T (state in place),
//     y = C . S + D x, yg = y silu(z).
//   phase 3 (out_proj rows split over CTAs): v = round(gatedRMSNorm(yg) * gatedNorm) (per
//     group), residual[b] += round(v out_proj^T + bias).
// "round" is to the weights' type, as the unfused ops store their outputs. Arithmetic is fp32.
//
// Limits (persistentDecodeConfig says which one a shape breaks): batch 1..8 (batch x groups
// <= 64), bf16/fp16/fp32 weights, fp32 SSM state, Dm and Di multiples of one 16-byte load, N
// per layer in 1..256, conv kernel 1..16, at most kPersistentDecodeMaxLayers layers, and each
// CTA's slices within the shared memory. Launches sharing one barrier must run in stream order
// (one decode stream). Tests: tests/model/gpu_model_test.cc (GPU) and
// tests/kernels/emu/kernel_emu_persistent_test.cc (CPU emulator, fp64 reference).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

constexpr int kPersistentDecodeMaxBatch = 8;
constexpr int kPersistentDecodeMaxLayers = 64;
constexpr int kPersistentDecodeMaxState = 256;
constexpr int kGridBarrierWords = 64;  // the barrier's words (zeroed once)

struct PersistentDecodeLayer {
  const void* norm = nullptr;         // (Dm) of elem: the pre-mixer RMSNorm weight
  const void* inProj = nullptr;       // (>= DIP, Dm) of elem, row-major, 16-byte aligned (rows >= DIP unused)
  const void* inProjBias = nullptr;   // (DIP) of elem or nullptr
  float* convState = nullptr;         // (numSlots, CD, Kc) fp32, newest last
  const float* convWeight = nullptr;  // (CD, Kc)
  const float* convBias = nullptr;    // (CD) or nullptr
  float* ssmState = nullptr;          // (numSlots, H, P, N) fp32
  const float* dtBias = nullptr;      // (H)
  const float* A = nullptr;           // (H), negative
  const float* D = nullptr;           // (H)
  const void* gatedNorm = nullptr;    // (Di) of elem
  const void* outProj = nullptr;      // (Dm, Di) of elem, row-major, 16-byte aligned
  const void* outProjBias = nullptr;  // (Dm) of elem or nullptr
  int stateSize = 0;                  // N of this layer
};

struct PersistentDecodeParams {
  int batch = 0, nLayers = 0, dModel = 0, dInner = 0, nHeads = 0, headDim = 0, nGroups = 1, convKernel = 0;
  ElemType elem = ElemType::kBF16;
  float eps = 1e-5f;                  // both RMSNorms
  float dtMin = 0.f, dtMax = 3.4e38f;
  const int32_t* slots = nullptr;     // (batch)
  float* residual = nullptr;          // (batch, Dm) fp32: the residual stream, advanced in place through every layer
  float* workspace = nullptr;         // persistentDecodeWorkspaceFloats(*this) floats, no initialisation needed
  unsigned* barrier = nullptr;        // kGridBarrierWords words, zero before the first launch that uses them
  int grid = 0;                       // CTAs; 0: one per SM (tests set fewer)
  PersistentDecodeLayer layers[kPersistentDecodeMaxLayers];
};

// Shape checks and the launch geometry for p (p.grid = 0: the current device's SM count); the
// per-call pointers (slots, residual, workspace, barrier) are not looked at.
struct PersistentDecodeConfig {
  int grid = 0;
  int64_t sharedBytes = 0;
  std::string why;                    // empty when supported
};
PersistentDecodeConfig persistentDecodeConfig(const PersistentDecodeParams& p);

int64_t persistentDecodeWorkspaceFloats(const PersistentDecodeParams& p);

// Runs layers [0, nLayers) for the batch on `stream` (one cooperative launch; graph-capturable).
// Throws CudaError when p is not supported (persistentDecodeConfig) or a launch fails.
void launchPersistentDecode(const PersistentDecodeParams& p, Stream stream);

}  // namespace mamba::kernels
