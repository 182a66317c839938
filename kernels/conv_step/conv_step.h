// Causal depthwise conv1d decode step (spec §5 step 2), in place on the conv-state pool.
//
// For each sequence b (slot s = slots[b]; s < 0: padding row, state untouched, out = 0) and
// channel c < channels: shift state[s, c, :] left by one, append input[b, c], and write
// out[b, c] = silu(bias[c] + sum_k state[s, c, k] * weight[c, k]) in fp32.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct ConvStepParams {
  int batch = 0, channels = 0, kernelSize = 0;  // kernelSize in 1..16
  float* state = nullptr;          // (numSlots, channels, kernelSize) fp32, newest last
  const int32_t* slots = nullptr;  // (batch)
  const void* input = nullptr;     // (batch, inputStride) of inputElem: raw (pre-conv) xBC at column c
  int64_t inputStride = 0;
  ElemType inputElem = ElemType::kF32;
  const float* weight = nullptr;   // (channels, kernelSize)
  const float* bias = nullptr;     // (channels) or nullptr
  float* out = nullptr;            // (batch, channels) fp32
};

void launchConvStep(const ConvStepParams& p, Stream stream);

}  // namespace mamba::kernels
