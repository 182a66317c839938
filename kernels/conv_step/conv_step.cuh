// Kernel of launchConvStep (conv_step.h): one thread per (sequence, channel).
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/conv_step/conv_step.h"

namespace mamba::kernels {

constexpr int kConvStepThreads = 256;
constexpr int kMaxConvKernel = 16;

// One channel of the step with a compile-time kernel size: all loads before the stores, the
// window in registers.
template <int KC>
__device__ __forceinline__ float convStepFixed(float* st, const float* w, float bias, float in) {
  float win[KC], wk[KC];
#pragma unroll
  for (int k = 0; k < KC; ++k) {
    win[k] = k + 1 < KC ? st[k + 1] : in;
    wk[k] = w[k];
  }
  float acc = bias;
#pragma unroll
  for (int k = 0; k < KC; ++k) {
    st[k] = win[k];
    acc += win[k] * wk[k];
  }
  return silu(acc);
}

// One channel of the step: shifts the fp32 window st[0, K) left by one, appends `in`, and
// returns silu(bias + sum_k window[k] * w[k]), summed in k order (K = 4, every published
// model, unrolled). Shared with the in_proj GEMV's conv epilogue (kernels/gemv), which must
// match this kernel bit for bit.
__device__ __forceinline__ float convStepChannel(float* st, const float* w, float bias, float in, int K) {
  if (K == 4) return convStepFixed<4>(st, w, bias, in);
  float acc = bias;
  for (int k = 0; k + 1 < K; ++k) {
    const float v = st[k + 1];
    st[k] = v;
    acc += v * w[k];
  }
  st[K - 1] = in;
  acc += in * w[K - 1];
  return silu(acc);
}

template <typename TIn>
__global__ void convStepKernel(ConvStepParams p) {
  pdlEnter();
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
  const float in = toFloat(static_cast<const TIn*>(p.input)[b * p.inputStride + c]);
  *out = convStepChannel(p.state + (static_cast<int64_t>(slot) * p.channels + c) * K,
                         p.weight + static_cast<int64_t>(c) * K, p.bias ? p.bias[c] : 0.f, in, K);
}

template <typename TIn>
void launchConvStepTyped(const ConvStepParams& p, Stream stream) {
  if (p.batch == 0) return;
  dim3 grid((p.channels + kConvStepThreads - 1) / kConvStepThreads, p.batch);
  launchKernel(convStepKernel<TIn>, grid, dim3(kConvStepThreads), 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace mamba::kernels
