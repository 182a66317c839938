// Kernel of launchConvPrefill (conv_prefill.h). Grid (column block, time block, sequence):
// each thread owns one column (a conv channel, or a dt head past the channels) and a run of
// `steps` time steps (kConvPrefillSteps, or fewer when that would leave the GPU idle: short
// prompts are latency-bound), sliding a K-wide window of raw inputs through registers, so
// every input is read once (plus a K-1 halo per run) with coalesced loads and stores. The
// window is right-aligned in a compile-time array of KB >= K entries (the weights are padded
// with zeros on the left), so the common K = 4 runs without local memory.
//
// The pool window of sequence b is read (history) and then rewritten only by the threads of
// time block 0, and no other block reads it (runs start at t >= steps >= K - 1),
// so the in-place update needs no synchronisation. Slots must be distinct within a call.
#pragma once

#include <algorithm>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/conv_prefill/conv_prefill.h"

namespace mamba::kernels {

constexpr int kConvPrefillThreads = 128;  // columns per block
constexpr int kConvPrefillSteps = 32;     // time steps per thread (>= the largest K - 1)
constexpr int kConvPrefillMinBlocks = 512;  // below this many blocks, runs are shortened
constexpr int kConvPrefillMaxKernel = 16;

__host__ __device__ __forceinline__ int64_t convOutWidth(const ConvPrefillParams& p) {
  if (p.outPitch == 0) return p.channels;
  return p.outDInner + static_cast<int64_t>((p.channels - p.outDInner) / p.outStateSize) * p.outPitch;
}

template <typename TIn, typename TOut, int KB>
__global__ void convPrefillKernel(ConvPrefillParams p, int steps) {
  pdlEnter();
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  const int t0 = blockIdx.y * steps;
  const int b = blockIdx.z;
  const int L = p.seqLen;
  const int tEnd = min(t0 + steps, L);
  const int len = min(max(p.lengths[b], 0), L);
  const int64_t rowBase = static_cast<int64_t>(b) * L;

  if (col >= p.channels) {  // dt columns
    const int h = col - p.channels;
    if (p.dtOut == nullptr || h >= p.nHeads) return;
    const TIn* raw = static_cast<const TIn*>(p.dtRaw) + rowBase * p.inputStride + h;
    const float bias = p.dtBias[h];
    for (int t = t0; t < tEnd; ++t) {
      float v = 0.f;
      if (t < len) v = fminf(fmaxf(softplus(toFloat(raw[t * p.inputStride]) + bias), p.dtMin), p.dtMax);
      p.dtOut[(rowBase + t) * p.nHeads + h] = v;
    }
    return;
  }

  const int c = col, K = p.kernelSize;
  const int slot = p.slots[b];
  const bool history = slot >= 0 && p.cont[b] != 0;
  float* st = slot >= 0 ? p.state + (static_cast<int64_t>(slot) * p.channels + c) * K : nullptr;
  const TIn* in = static_cast<const TIn*>(p.input) + rowBase * p.inputStride + c;
  // raw(tau): the input at step tau >= 0, the history for tau in [-K, -1], else 0.
  auto raw = [&](int tau) -> float {
    if (tau >= 0) return toFloat(in[static_cast<int64_t>(tau) * p.inputStride]);
    return history && tau >= -K ? st[K + tau] : 0.f;
  };

  float w[KB], win[KB];  // w[j] multiplies raw(t - (KB-1) + j); zero for j < KB - K
#pragma unroll
  for (int j = 0; j < KB; ++j) {
    const int k = j - (KB - K);
    w[j] = k >= 0 ? p.weight[static_cast<int64_t>(c) * K + k] : 0.f;
    win[j] = 0.f;
  }
#pragma unroll
  for (int j = 0; j + 1 < KB; ++j) {
    if (j >= KB - K) win[j] = raw(t0 - (KB - 1) + j);
  }
  const float bias = p.bias ? p.bias[c] : 0.f;
  // Output column (see ConvPrefillParams); the last channel of a padded block also zeroes the
  // block's padding columns.
  int outCol = c, padAfter = 0;
  if (p.outPitch > 0 && c >= p.outDInner) {
    const int k = c - p.outDInner, i = k % p.outStateSize;
    outCol = p.outDInner + (k / p.outStateSize) * p.outPitch + i;
    if (i == p.outStateSize - 1) padAfter = p.outPitch - p.outStateSize;
  }
  const int64_t outWidth = convOutWidth(p);
  TOut* out = static_cast<TOut*>(p.out) + rowBase * outWidth + outCol;
#pragma unroll 4
  for (int t = t0; t < tEnd; ++t) {
    win[KB - 1] = toFloat(in[static_cast<int64_t>(t) * p.inputStride]);
    float acc = bias;
#pragma unroll
    for (int j = 0; j < KB; ++j) acc += w[j] * win[j];
    out[t * outWidth] = fromFloat<TOut>(silu(acc));
    for (int j = 1; j <= padAfter; ++j) out[t * outWidth + j] = fromFloat<TOut>(0.f);
#pragma unroll
    for (int j = 0; j + 1 < KB; ++j) win[j] = win[j + 1];
  }

  // New window: read everything (inputs and old history) before writing the pool.
  if (blockIdx.y != 0 || st == nullptr) return;
  float next[KB];
#pragma unroll
  for (int k = 0; k < KB; ++k) next[k] = k < K ? raw(len - K + k) : 0.f;
#pragma unroll
  for (int k = 0; k < KB; ++k) {
    if (k < K) st[k] = next[k];
  }
}

template <typename TIn, typename TOut>
void launchConvPrefillTyped(const ConvPrefillParams& p, Stream stream) {
  const int cols = p.channels + (p.dtOut ? p.nHeads : 0);
  if (p.batch == 0 || cols == 0) return;
  const int colBlocks = (cols + kConvPrefillThreads - 1) / kConvPrefillThreads;
  // Short runs for small grids (1 x 64 tokens: 30 blocks of 32 serial steps otherwise), never
  // shorter than K - 1 (see the pool-window note above).
  int steps = kConvPrefillSteps;
  const int64_t blocks = static_cast<int64_t>(colBlocks) * ((p.seqLen + steps - 1) / steps) * p.batch;
  if (blocks < kConvPrefillMinBlocks) steps = std::max(4, p.kernelSize);
  // seqLen 0 still runs one time block: it rewrites the windows (unchanged for len 0).
  const int timeBlocks = p.seqLen > 0 ? (p.seqLen + steps - 1) / steps : 1;
  dim3 grid(colBlocks, timeBlocks, p.batch);
  auto s = static_cast<cudaStream_t>(stream);
  if (p.kernelSize <= 4) {
    launchKernel(convPrefillKernel<TIn, TOut, 4>, grid, dim3(kConvPrefillThreads), 0, s, p, steps);
  } else {
    launchKernel(convPrefillKernel<TIn, TOut, kConvPrefillMaxKernel>, grid, dim3(kConvPrefillThreads), 0, s, p, steps);
  }
}

}  // namespace mamba::kernels
