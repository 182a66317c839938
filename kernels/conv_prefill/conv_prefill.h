// Causal depthwise conv1d over a right-padded prefill batch (spec §4.2 steps 2-3), with the
// per-sequence conv history and the new conv window kept in the conv-state pool, plus the dt
// activation of the same tokens.
//
// For sequence b (slot s = slots[b], length len = lengths[b] <= seqLen), channel c and step
// t < seqLen, with raw(tau) = input[b, tau, c] for tau >= 0 and, for tau in [-K, -1], the
// history state[s, c, K + tau] if cont[b] != 0 and s >= 0, else 0:
//   out[b, t, c] = silu(bias[c] + sum_k weight[c, k] * raw(t - (K-1) + k))
//   state[s, c, k] <- raw(len - K + k) for k < K      (s >= 0 only; newest input last)
// The window mixes history and new inputs when len < K - 1, exactly as the LibTorch path's
// gather over [history | inputs] does. Steps t >= len are computed like any other (they are
// padding; the SSD ignores them through dt = 0).
//
// dt (optional, dtOut != nullptr), for head h < nHeads:
//   dtOut[b, t, h] = t < len ? clamp(softplus(dtRaw[b, t, h] + dtBias[h]), dtMin, dtMax) : 0
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct ConvPrefillParams {
  int batch = 0, seqLen = 0, channels = 0, kernelSize = 0;  // kernelSize in 1..16
  float* state = nullptr;            // (numSlots, channels, kernelSize) fp32, newest last: history in, window out
  const int32_t* slots = nullptr;    // (batch); < 0: no history, window not written
  const int32_t* cont = nullptr;     // (batch); 0: fresh sequence (zero history)
  const int32_t* lengths = nullptr;  // (batch) real tokens per sequence, <= seqLen
  const void* input = nullptr;       // (batch, seqLen, inputStride) of inputElem: raw xBC at column c
  int64_t inputStride = 0;
  ElemType inputElem = ElemType::kF32;
  const float* weight = nullptr;     // (channels, kernelSize)
  const float* bias = nullptr;       // (channels) or nullptr
  void* out = nullptr;               // (batch, seqLen, outWidth) of outElem (kF32 or inputElem)
  ElemType outElem = ElemType::kF32;
  // Output columns (the layout the SSD kernels take at a state pitch, ssd_prefill.h): with
  // outPitch == 0, channel c goes to column c (outWidth = channels). Otherwise channels below
  // outDInner keep their column, and the rest, 2G blocks of outStateSize channels (B of each
  // group, then C), start every block at a pitch of outPitch >= outStateSize columns with
  // zeros after its channels (outWidth = outDInner + 2G outPitch).
  int outDInner = 0, outStateSize = 0, outPitch = 0;
  // dt, fused into the same launch; skipped when dtOut is nullptr.
  int nHeads = 0;
  const void* dtRaw = nullptr;       // (batch, seqLen, inputStride) of inputElem: raw dt of head h at column h
  const float* dtBias = nullptr;     // (nHeads)
  float dtMin = 0.f, dtMax = 3.4e38f;
  float* dtOut = nullptr;            // (batch, seqLen, nHeads) fp32
  // Lets the launcher take the vector form (V adjacent channels per thread, one 16-byte load
  // per step; same results bit for bit) where the shapes and alignment allow; false: the
  // per-channel form always (tests and A/B runs).
  bool allowVector = true;
};

void launchConvPrefill(const ConvPrefillParams& p, Stream stream);
int64_t convPrefillOutWidth(const ConvPrefillParams& p);

}  // namespace mamba::kernels
