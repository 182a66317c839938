// Kernel of launchConvStep (conv_step.h): one thread per (sequence, channel).
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/conv_step/conv_step.h"

namespace mamba::kernels {

constexpr int kConvStepThreads = 256;
constexpr int kMaxConvKernel = 16;

template <typename TIn>
__global__ void convStepKernel(ConvStepParams p) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int b = blockIdx.y;
  if (c >= p.channels) return;
  const int slot = p.slots[b];
  float* out = p.out + static_cast<int64_t>(b) * p.channels + c;
  if (slot < 0) {
    *out = 0.f;
    return;
  }
  const int K = p.kernelSize;
  float* st = p.state + (static_cast<int64_t>(slot) * p.channels + c) * K;
  const float* w = p.weight + static_cast<int64_t>(c) * K;
  const float in = toFloat(static_cast<const TIn*>(p.input)[b * p.inputStride + c]);
  float acc = p.bias ? p.bias[c] : 0.f;
  float win[kMaxConvKernel];
  for (int k = 0; k + 1 < K; ++k) win[k] = st[k + 1];
  win[K - 1] = in;
  for (int k = 0; k < K; ++k) {
    st[k] = win[k];
    acc += win[k] * w[k];
  }
  *out = silu(acc);
}

template <typename TIn>
void launchConvStepTyped(const ConvStepParams& p, Stream stream) {
  if (p.batch == 0) return;
  dim3 grid((p.channels + kConvStepThreads - 1) / kConvStepThreads, p.batch);
  convStepKernel<TIn><<<grid, kConvStepThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  MAMBA_CUDA_CHECK_LAUNCH();
}

}  // namespace mamba::kernels
