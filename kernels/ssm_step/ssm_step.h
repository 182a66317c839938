// Selective state update for decode (spec §5 steps 3-6), in place on the state pool.
//
// For each sequence b (slot s = slots[b]; s < 0 marks a padding row: no state is touched and
// y is 0), head h (group g = h / (H/G)), lane p, state n < N (any N in 1..1024):
//   dt  = clamp(softplus(dtRaw[b, h] + dtBias[h]), dtMin, dtMax)
//   S[s,h,p,n] = S[s,h,p,n] * exp(dt * A[h]) + dt * x[b,h,p] * B[b,g,n]
//   y[b, h*P+p] = sum_n S[s,h,p,n] * C[b,g,n] + D[h] * x[b,h,p]
// The state is fp32 (default) or bf16 (stateElem): arithmetic is fp32 either way, a bf16 state
// is rounded to nearest on store. The work is proportional to N: a compacted layer with N = 64
// reads and writes half the bytes of N = 128.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct SsmStepParams {
  int batch = 0, nHeads = 0, headDim = 0, nGroups = 1, stateSize = 0, dInner = 0;
  void* state = nullptr;           // (numSlots, H, P, N) of stateElem, contiguous
  ElemType stateElem = ElemType::kF32;  // kF32 or kBF16
  const int32_t* slots = nullptr;  // (batch)
  const float* xbc = nullptr;      // (batch, xbcStride) fp32: x [0, Di), B [Di, Di+GN), C [Di+GN, Di+2GN)
  int64_t xbcStride = 0;
  const void* dtRaw = nullptr;     // (batch, dtStride) of dtElem; head h at column h
  int64_t dtStride = 0;
  ElemType dtElem = ElemType::kF32;
  const float* dtBias = nullptr;   // (H)
  const float* A = nullptr;        // (H), negative
  const float* D = nullptr;        // (H)
  float dtMin = 0.f, dtMax = 3.4e38f;
  float* y = nullptr;              // (batch, Di) fp32
};

void launchSsmStep(const SsmStepParams& p, Stream stream);

}  // namespace mamba::kernels
