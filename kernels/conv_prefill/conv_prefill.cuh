// Kernel of launchConvPrefill (conv_prefill.h). Grid (column block, time block, sequence):
// each thread owns one column (a conv channel, or a dt head from the first warp boundary past
// the channels: convDtColumn0) and a run of `steps` time steps (kConvPrefillSteps, 16 in the
// vector form, or fewer when that would leave the GPU idle: short prompts are latency-bound),
// sliding a K-wide window of raw inputs through registers, so every input is read once (plus a
// K-1 halo per run) with coalesced loads and stores. The window is right-aligned in a
// compile-time array of KB >= K entries (the weights are padded with zeros on the left), so the
// common K = 4 runs without local memory.
//
// The pool window of sequence b is read (history) and then rewritten only by the threads of
// time block 0, and no other block reads it (runs start at t >= steps >= K - 1),
// so the in-place update needs no synchronisation. Slots must be distinct within a call.
#pragma once

#include <algorithm>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/conv_prefill/conv_prefill.h"

namespace mamba::kernels {

constexpr int kConvPrefillThreads = 128;  // columns per block
constexpr int kConvPrefillSteps = 32;     // time steps per thread (>= the largest K - 1)
constexpr int kConvPrefillMinBlocks = 512;  // below this many blocks, runs are shortened
constexpr int kConvPrefillMaxKernel = 16;

// The first grid column of the dt heads, with v channels per thread: the channel columns
// rounded up to a whole warp, so that no warp runs both the conv and the dt (a divergent warp
// runs both paths one after the other, and the slowest warp sets a latency-bound kernel's
// time). H200, 130m bf16, prefill 1 x 2048, per-channel kernel: N = 120 (1776 channels, one
// mixed warp) 17.00 us per launch against N = 128's 12.56 (1792: none) before this
// (bench/results/h200_2026-12-02/session18, run3).
__host__ __device__ __forceinline__ int convDtColumn0(const ConvPrefillParams& p, int v) {
  return (p.channels / v + 31) / 32 * 32;
}

__host__ __device__ __forceinline__ int64_t convOutWidth(const ConvPrefillParams& p) {
  if (p.outPitch == 0) return p.channels;
  return p.outDInner + static_cast<int64_t>((p.channels - p.outDInner) / p.outStateSize) * p.outPitch;
}

// The sliding causal window of one channel, right-aligned in KB >= K entries (zero weights on
// the left): start() seeds raw(t0 - K + 1) .. raw(t0 - 1); step(raw(t)) returns the conv sum
// bias + sum_k weight[k] raw(t - (K-1) + k) (before the activation) and slides by one. Both
// conv kernels go through it, so they agree bit for bit.
template <int KB>
struct ConvWindow {
  float w[KB], win[KB], bias = 0.f;

  // weight: the channel's K taps; raw(tau) as in conv_prefill.h.
  template <typename Raw>
  __device__ __forceinline__ void start(const float* weight, float channelBias, int K, int t0, Raw raw) {
    setWeights(weight, channelBias, K);
    warmUp(K, t0, raw);
  }
  // start() in two parts, so that the weight loads can be issued before the inputs have landed.
  __device__ __forceinline__ void setWeights(const float* weight, float channelBias, int K) {
#pragma unroll
    for (int j = 0; j < KB; ++j) {
      const int k = j - (KB - K);
      w[j] = k >= 0 ? weight[k] : 0.f;
    }
    bias = channelBias;
  }
  template <typename Raw>
  __device__ __forceinline__ void warmUp(int K, int t0, Raw raw) {
#pragma unroll
    for (int j = 0; j < KB; ++j) win[j] = 0.f;
#pragma unroll
    for (int j = 0; j + 1 < KB; ++j) {
      if (j >= KB - K) win[j] = raw(t0 - (KB - 1) + j);
    }
  }

  __device__ __forceinline__ float step(float input) {
    win[KB - 1] = input;
    float acc = bias;
#pragma unroll
    for (int j = 0; j < KB; ++j) acc += w[j] * win[j];
#pragma unroll
    for (int j = 0; j + 1 < KB; ++j) win[j] = win[j + 1];
    return acc;
  }
};

// The new pool window of one channel: st[k] <- raw(len - K + k) for k < K, where raw(tau) is
// in[tau * stride] for tau >= 0 and the old window st[K + tau] (history) or 0 before. Reads
// everything before writing.
template <int KB, typename TIn>
__device__ __forceinline__ void commitConvWindow(float* st, bool history, const TIn* in, int64_t stride, int len, int K) {
  float next[KB];
#pragma unroll
  for (int k = 0; k < KB; ++k) {
    const int tau = len - K + k;
    next[k] = k >= K ? 0.f
              : tau >= 0 ? toFloat(in[static_cast<int64_t>(tau) * stride])
                         : history && tau >= -K ? st[K + tau] : 0.f;
  }
#pragma unroll
  for (int k = 0; k < KB; ++k) {
    if (k < K) st[k] = next[k];
  }
}

// A conv-grid thread's place: column, run of steps [t0, tEnd) of sequence b (len real tokens,
// first row rowBase = b * seqLen).
struct ConvRun {
  int col, t0, tEnd, b, len;
  int64_t rowBase;
  __device__ ConvRun(const ConvPrefillParams& p, int steps)
      : col(static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x)),
        t0(static_cast<int>(blockIdx.y) * steps),
        tEnd(min(t0 + steps, p.seqLen)),
        b(static_cast<int>(blockIdx.z)),
        len(min(max(p.lengths[b], 0), p.seqLen)),
        rowBase(static_cast<int64_t>(b) * p.seqLen) {}
};

// Calls emit(t, load(t)) for t in [t0, tEnd) in order, issuing each batch of kRows loads before
// any of the batch's emits: the compiler may not move a load above a store that could alias it,
// so load, compute, store row by row leaves one memory latency per row.
template <int kRows, typename X, typename Load, typename Emit>
__device__ __forceinline__ void batchedRows(int t0, int tEnd, Load load, Emit emit) {
  for (int tb = t0; tb < tEnd; tb += kRows) {
    X x[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      if (tb + i < tEnd) x[i] = load(tb + i);
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      if (tb + i >= tEnd) break;
      emit(tb + i, x[i]);
    }
  }
}

// dt of head h (the grid's columns past the conv channels) over the thread's run.
template <typename TIn>
__device__ __forceinline__ void dtColumn(const ConvPrefillParams& p, int h, const ConvRun& run) {
  if (p.dtOut == nullptr || h >= p.nHeads) return;
  const TIn* raw = static_cast<const TIn*>(p.dtRaw) + run.rowBase * p.inputStride + h;
  const float bias = p.dtBias[h];
  batchedRows<4, float>(
      run.t0, run.tEnd, [&](int t) { return toFloat(raw[t * p.inputStride]); },
      [&](int t, float x) {
        p.dtOut[(run.rowBase + t) * p.nHeads + h] =
            t < run.len ? fminf(fmaxf(softplus(x + bias), p.dtMin), p.dtMax) : 0.f;
      });
}

template <typename TIn, typename TOut, int KB>
__global__ void convPrefillKernel(ConvPrefillParams p, int steps) {
  pdlEnter();
  const ConvRun run(p, steps);
  const int t0 = run.t0, tEnd = run.tEnd, b = run.b, len = run.len;
  const int64_t rowBase = run.rowBase;
  if (run.col >= p.channels) {
    const int dt0 = convDtColumn0(p, 1);
    if (run.col >= dt0) dtColumn<TIn>(p, run.col - dt0, run);
    return;  // (columns between the channels and dt0 idle)
  }

  const int c = run.col, K = p.kernelSize;
  const int slot = p.slots[b];
  const bool history = slot >= 0 && p.cont[b] != 0;
  float* st = slot >= 0 ? p.state + (static_cast<int64_t>(slot) * p.channels + c) * K : nullptr;
  const TIn* in = static_cast<const TIn*>(p.input) + rowBase * p.inputStride + c;
  // raw(tau): the input at step tau >= 0, the history for tau in [-K, -1], else 0.
  auto raw = [&](int tau) -> float {
    if (tau >= 0) return toFloat(in[static_cast<int64_t>(tau) * p.inputStride]);
    return history && tau >= -K ? st[K + tau] : 0.f;
  };

  ConvWindow<KB> window;
  window.start(p.weight + static_cast<int64_t>(c) * K, p.bias ? p.bias[c] : 0.f, K, t0, raw);
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
  batchedRows<4, float>(
      t0, tEnd, [&](int t) { return toFloat(in[static_cast<int64_t>(t) * p.inputStride]); },
      [&](int t, float x) {
        out[t * outWidth] = fromFloat<TOut>(silu(window.step(x)));
        for (int j = 1; j <= padAfter; ++j) out[t * outWidth + j] = fromFloat<TOut>(0.f);
      });

  // New window: read everything (inputs and old history) before writing the pool.
  if (blockIdx.y != 0 || st == nullptr) return;
  commitConvWindow<KB>(st, history, in, p.inputStride, len, K);
}

// Channels per thread of the vector form: one 16-byte load of inputs per step.
template <typename TIn>
constexpr int kConvVec = 16 / static_cast<int>(sizeof(TIn));

// Vector form of convPrefillKernel: thread `col` owns channels [col V, col V + V) (V =
// kConvVec<TIn>), loads them with one 16-byte load per step and stores V outputs at once;
// columns past channels / V are the dt heads. Each channel's arithmetic is convPrefillKernel's
// (the same ConvWindow), so both forms agree bit for bit. Needs convVectorizable(p).
//
// The thread's whole run of input rows (its KB-1 halo and `steps` rows) is first copied by
// cp.async into its own column of a shared-memory stage, (steps + KB - 1) rows x
// kConvPrefillThreads vectors, so every load of the run is in flight at once without holding
// registers (each thread reads only its own copies: no barrier), in two commit groups (halo and
// first half, second half) so that the first half is computed while the second lands; the
// weights are loaded while the copies fly. H200, 130m bf16, 8 x 16384, per launch: 396 us
// (one group, weights after it) against 429 us for batches of 4 rows through registers (150
// registers, 3 blocks per SM); the two groups then took prefill 8 x 2048 from 13.71 to 13.55 ms
// and 8 x 16384 from 99.75 to 99.30 (bench/results/h200_2026-12-01/session14).
template <typename TIn, typename TOut, int KB>
__global__ void convPrefillVecKernel(ConvPrefillParams p, int steps) {
  constexpr int V = kConvVec<TIn>;
  using Vec = Pack<TIn, V>;
  extern __shared__ __align__(16) unsigned char convStage[];
  pdlEnter();
  const ConvRun run(p, steps);
  const int t0 = run.t0, tEnd = run.tEnd, b = run.b, len = run.len;
  const int64_t rowBase = run.rowBase;
  if (run.col >= p.channels / V) {
    const int dt0 = convDtColumn0(p, V);
    if (run.col >= dt0) dtColumn<TIn>(p, run.col - dt0, run);
    return;  // (columns between the channels and dt0 idle)
  }

  const int c0 = run.col * V, K = p.kernelSize;
  const int slot = p.slots[b];
  const bool history = slot >= 0 && p.cont[b] != 0;
  float* st = slot >= 0 ? p.state + (static_cast<int64_t>(slot) * p.channels + c0) * K : nullptr;
  const TIn* in = static_cast<const TIn*>(p.input) + rowBase * p.inputStride + c0;
  // Row i of the stage holds input step t0 - (KB-1) + i.
  Vec* stage = reinterpret_cast<Vec*>(convStage) + threadIdx.x;
  auto stageRows = [&](int i0, int i1) {
    for (int i = i0; i < i1; ++i) {
      const int tau = t0 - (KB - 1) + i;
      if (tau < 0) continue;  // the history rows come from the pool window below
      cpAsync16(smemAddr(stage + i * kConvPrefillThreads), in + static_cast<int64_t>(tau) * p.inputStride, 16);
    }
    cpAsyncCommit();
  };
  const int tMid = t0 + (tEnd - t0 + 1) / 2;  // steps [t0, tMid) in the first group
  stageRows(0, tMid - t0 + KB - 1);
  stageRows(tMid - t0 + KB - 1, tEnd - t0 + KB - 1);
  ConvWindow<KB> window[V];
#pragma unroll
  for (int j = 0; j < V; ++j)
    window[j].setWeights(p.weight + static_cast<int64_t>(c0 + j) * K, p.bias ? p.bias[c0 + j] : 0.f, K);
  cpAsyncWaitGroup<1>();
  auto inputRow = [&](int tau) -> Vec { return stage[(tau - t0 + KB - 1) * kConvPrefillThreads]; };
  // raw(tau) of convPrefillKernel for the window's warm-up steps t0 - (KB-1) .. t0 - 1, all V
  // channels at once: input rows as vectors, the history per channel.
  float warm[KB - 1][V];
#pragma unroll
  for (int i = 0; i + 1 < KB; ++i) {
    const int tau = t0 - (KB - 1) + i;
    if (tau >= 0) {
      const Vec x = inputRow(tau);
#pragma unroll
      for (int j = 0; j < V; ++j) warm[i][j] = toFloat(x.v[j]);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) warm[i][j] = history && tau >= -K ? st[j * K + K + tau] : 0.f;
    }
  }
#pragma unroll
  for (int j = 0; j < V; ++j) window[j].warmUp(K, t0, [&](int tau) { return warm[tau - (t0 - (KB - 1))][j]; });
  TOut* out = static_cast<TOut*>(p.out) + rowBase * p.channels + c0;
  for (int t = t0; t < tEnd; ++t) {
    if (t == tMid) cpAsyncWaitGroup<0>();
    const Vec x = inputRow(t);
    Pack<TOut, V> y;
#pragma unroll
    for (int j = 0; j < V; ++j) y.v[j] = fromFloat<TOut>(silu(window[j].step(toFloat(x.v[j]))));
    *reinterpret_cast<Pack<TOut, V>*>(out + static_cast<int64_t>(t) * p.channels) = y;
  }

  if (blockIdx.y != 0 || st == nullptr) return;
#pragma unroll 1
  for (int j = 0; j < V; ++j) commitConvWindow<KB>(st + j * K, history, in + j, p.inputStride, len, K);
}

// Column blocks of the conv grid with v channels per thread (the dt heads after them, from
// convDtColumn0), and its blocks when every thread runs kConvPrefillSteps steps.
inline int convColumnBlocks(const ConvPrefillParams& p, int v) {
  const int cols = p.dtOut ? convDtColumn0(p, v) + p.nHeads : p.channels / v;
  return (cols + kConvPrefillThreads - 1) / kConvPrefillThreads;
}
inline int64_t convFullRunBlocks(const ConvPrefillParams& p, int v) {
  return static_cast<int64_t>(convColumnBlocks(p, v)) * ((p.seqLen + kConvPrefillSteps - 1) / kConvPrefillSteps) *
         p.batch;
}

// Whether the vector form may run: kernel sizes <= 4 (V windows stay in registers), whole
// 16-byte vectors of channels in every row of the input and the output, the plain output layout.
template <typename TIn, typename TOut>
bool convVectorizable(const ConvPrefillParams& p) {
  constexpr int V = kConvVec<TIn>;
  if (!p.allowVector || p.kernelSize > 4 || p.outPitch != 0 || p.channels % V != 0 || p.inputStride % V != 0 ||
      !isAligned(p.input, 16) || !isAligned(p.out, alignof(Pack<TOut, V>))) {
    return false;
  }
  // Only grids of full-length runs with >= 4 blocks per SM: with fewer (short prompts) the V
  // channels' serial work per thread made it slower. H200, 130m bf16, per-channel vs vector
  // with every grid: prefill 1 x 64 1.087 vs 1.244 ms, 1 x 2048 3.474 vs 3.943, 8 x 16384
  // 174.2 vs 165.9 (bench/results/h200_2026-12-01/session8/run2_streams_convvec).
  return convFullRunBlocks(p, V) >= 4 * static_cast<int64_t>(deviceSmCount());
}

// Steps per thread of the vector form (convPrefillVecKernel): 16 unless MAMBA_CONV_VEC_STEPS
// (8, 16 or 32) overrides it, for tuning runs. H200, 130m bf16, prefill 8 x 16384: 104.4 /
// 99.0 / 99.1 ms (bench/results/h200_2026-12-01/session14).
int convVecSteps();

// Shared-memory stage of convPrefillVecKernel<.., KB> for runs of `steps`: steps + KB - 1 rows
// of one 16-byte vector per thread.
template <int KB>
constexpr int convVecStageBytes(int steps) {
  return (steps + KB - 1) * kConvPrefillThreads * 16;
}

template <typename TIn, typename TOut>
void launchConvPrefillTyped(const ConvPrefillParams& p, Stream stream) {
  if (p.batch == 0 || p.channels + (p.dtOut ? p.nHeads : 0) == 0) return;
  const bool vec = convVectorizable<TIn, TOut>(p);
  const int v = vec ? kConvVec<TIn> : 1;
  // Short runs for small grids (1 x 64 tokens: 30 blocks of 32 serial steps otherwise), never
  // shorter than K - 1 (see the pool-window note above).
  int steps = vec ? convVecSteps() : kConvPrefillSteps;
  if (convFullRunBlocks(p, v) < kConvPrefillMinBlocks) steps = std::max(4, p.kernelSize);
  // seqLen 0 still runs one time block: it rewrites the windows (unchanged for len 0).
  const int timeBlocks = p.seqLen > 0 ? (p.seqLen + steps - 1) / steps : 1;
  dim3 grid(convColumnBlocks(p, v), timeBlocks, p.batch);
  auto s = static_cast<cudaStream_t>(stream);
  const bool narrow = p.kernelSize <= 4;
  if (vec) {
    static DynamicSmemLimit limit;
    constexpr int kKB = 4;  // K <= 4 (convVectorizable)
    constexpr auto kernel = convPrefillVecKernel<TIn, TOut, kKB>;
    limit.ensure(kernel, convVecStageBytes<kKB>(kConvPrefillSteps));  // the largest stage
    launchKernel(kernel, grid, dim3(kConvPrefillThreads), convVecStageBytes<kKB>(steps), s, p, steps);
  } else {
    launchKernel(narrow ? convPrefillKernel<TIn, TOut, 4> : convPrefillKernel<TIn, TOut, kConvPrefillMaxKernel>, grid,
                 dim3(kConvPrefillThreads), 0, s, p, steps);
  }
}

}  // namespace mamba::kernels
