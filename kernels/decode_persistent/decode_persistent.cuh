// Kernel of launchPersistentDecode (decode_persistent.h).
//
// One CTA of kThreads per SM runs "steps" [firstStep, lastStep): step 3 l + k is phase k + 1 of
// layer l, and a grid barrier (grid_barrier.cuh) separates consecutive steps. CTA c owns, in
// every layer, a contiguous block of in_proj rows (phase 1), of state rows (b, h, p) (phase 2)
// and of out_proj rows (phase 3); the blocks are fixed per layer, so a conv channel and a
// state row are only ever touched by one CTA in a step.
//
// Nothing a phase needs may cost a dependent global round trip on its critical path: every
// constant operand and the CTA's own state are copied into shared memory (cp.async) one or two
// phases ahead, in three commit groups per layer:
//   W_in(l)  in_proj rows, norm weight, bias, conv weight/bias rows, dt bias: committed at the
//            end of phase 1 of layer l - 1
//   S(l)     the CTA's SSM state rows and its channels' conv windows: end of phase 3 of l - 1
//   W_out(l) out_proj rows, gated-norm weight, bias, A, D: end of phase 3 of l - 1, after S(l)
// (the kernel's start commits the three for its first layer). Phase 1 waits for all but the
// newest group (W_out(l)), phase 2 for all but W_in(l + 1); empty groups keep the count where
// nothing is next. Data written by other CTAs in the step (residual, z, xbc, dt, yg) is read
// after the barrier with ld.cg (L2; L1 is not coherent across SMs), many loads in flight per
// thread. The CTA's own residual columns stay in shared memory across layers. A launch of a
// single step (lastStep = firstStep + 1: the CPU emulator's tests) stages synchronously.
#pragma once

#include <algorithm>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/conv_step/conv_step.cuh"
#include "kernels/decode_persistent/decode_persistent_layout.cuh"
#include "kernels/decode_persistent/grid_barrier.cuh"

namespace mamba::kernels {
namespace persistent {

constexpr int kWarps = kThreads / 32, kMaxB = kPersistentDecodeMaxBatch, kRowBlock = 4;

struct Smem {
  unsigned char *wIn, *norm, *inBias, *wOut, *gatedNorm, *outBias;  // of T (vectors at a word offset)
  float *convW, *convB, *dtBias, *state, *convWin, *aVec, *dVec;
  float* act;      // (B, Dm) u in phase 1, (B, Di) v in phase 3 (values of T, as float)
  float* bc;       // (B, 2 G N): B then C of every group
  float* rowData;  // (rowsState, 3): x, z, dt
  float* resOwn;   // (B, rowsOut): the residual at the CTA's out_proj rows
  float* stats;    // the norms' partial sums of squares and scales (normalizeRows)
  int* slots;      // (kMaxB)
};

// Rows [r0, r1) of `total` owned by CTA blockIdx.x of `grid`.
__device__ __forceinline__ void ownedRows(int total, int grid, int& r0, int& r1) {
  const int per = ceilDiv(total, grid);
  r0 = min(static_cast<int>(blockIdx.x) * per, total);
  r1 = min(r0 + per, total);
}

// Issues this thread's share of the 16-byte copies of rows [r0, r1) of the row-major (., K)
// matrix W of T into dst (row pitch K).
template <typename T>
__device__ __forceinline__ void stageRows(unsigned char* dst, const void* W, int r0, int r1, int K) {
  const int chunks = K * static_cast<int>(sizeof(T)) / 16;
  const int n = max(r1 - r0, 0) * chunks;
  const auto* src = static_cast<const unsigned char*>(W) + static_cast<int64_t>(r0) * K * sizeof(T);
  for (int i = threadIdx.x; i < n; i += kThreads) {
    cpAsync16(smemAddr(dst + 16 * i), src + 16 * static_cast<int64_t>(i), 16);
  }
}

// Issues the 4-byte copies of the aligned words covering [src, src + bytes) into dst; the
// first byte lands at dst + wordOffset(src). (A word around a 2-byte element stays inside its
// allocation: allocations are word-aligned and word-sized.)
__device__ __forceinline__ int wordOffset(const void* src) {
  return static_cast<int>(reinterpret_cast<uintptr_t>(src) & 3u);
}
__device__ __forceinline__ void stageWords(void* dst, const void* src, int64_t bytes) {
  if (src == nullptr || bytes <= 0) return;
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(src) & ~uintptr_t{3};
  const int64_t words = (reinterpret_cast<uintptr_t>(src) + bytes - a0 + 3) / 4;
  for (int64_t i = threadIdx.x; i < words; i += kThreads) {
    cpAsync4(smemAddr(static_cast<unsigned char*>(dst) + 4 * i), reinterpret_cast<const void*>(a0 + 4 * i));
  }
}
template <typename T>
__device__ __forceinline__ const T* staged(const unsigned char* dst, const void* src) {
  return reinterpret_cast<const T*>(dst + wordOffset(src));
}

// The xBC channels [c0, c1) among in_proj rows [r0, r1) of layer l (CD channels at row Di).
__device__ __forceinline__ void ownedChannels(int Di, int CD, int r0, int r1, int& c0, int& c1) {
  c0 = min(max(r0 - Di, 0), CD);
  c1 = max(min(r1 - Di, CD), c0);
}

template <typename T>
__device__ __forceinline__ void stageInProj(const PersistentDecodeParams& p, const Smem& s, int l, int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  const int N = ly.stateSize, CD = p.dInner + 2 * p.nGroups * N, Kc = p.convKernel;
  int r0, r1, c0, c1;
  ownedRows(dipOf(p, N), grid, r0, r1);
  ownedChannels(p.dInner, CD, r0, r1, c0, c1);
  stageRows<T>(s.wIn, ly.inProj, r0, r1, p.dModel);
  stageWords(s.norm, ly.norm, static_cast<int64_t>(p.dModel) * sizeof(T));
  if (ly.inProjBias != nullptr) stageWords(s.inBias, static_cast<const T*>(ly.inProjBias) + r0, (r1 - r0) * sizeof(T));
  stageWords(s.convW, ly.convWeight + static_cast<int64_t>(c0) * Kc, static_cast<int64_t>(c1 - c0) * Kc * 4);
  if (ly.convBias != nullptr) stageWords(s.convB, ly.convBias + c0, static_cast<int64_t>(c1 - c0) * 4);
  stageWords(s.dtBias, ly.dtBias, static_cast<int64_t>(p.nHeads) * 4);
}

__device__ __forceinline__ void stageState(const PersistentDecodeParams& p, const Layout& L, const Smem& s, int l,
                                           int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  const int N = ly.stateSize, HP = p.nHeads * p.headDim, CD = p.dInner + 2 * p.nGroups * N, Kc = p.convKernel;
  int r0, r1;
  ownedRows(p.batch * HP, grid, r0, r1);
  const bool vec = N % 4 == 0;
  const int per = vec ? N / 4 : N;  // copies per row
  for (int i = threadIdx.x; i < (r1 - r0) * per; i += kThreads) {
    const int rl = i / per, j = i - rl * per, r = r0 + rl, b = r / HP;
    const int slot = s.slots[b];
    if (slot < 0) continue;
    const float* src = ly.ssmState + (static_cast<int64_t>(slot) * HP + (r - b * HP)) * N;
    float* dst = s.state + rl * N;
    if (vec) {
      cpAsync16(smemAddr(dst + 4 * j), src + 4 * j, 16);
    } else {
      cpAsync4(smemAddr(dst + j), src + j);
    }
  }
  int i0, i1, c0, c1;
  ownedRows(dipOf(p, N), grid, i0, i1);
  ownedChannels(p.dInner, CD, i0, i1, c0, c1);
  for (int b = 0; b < p.batch; ++b) {
    if (s.slots[b] < 0) continue;
    stageWords(reinterpret_cast<unsigned char*>(s.convWin) + b * L.convWinPerRow,
               ly.convState + (static_cast<int64_t>(s.slots[b]) * CD + c0) * Kc, static_cast<int64_t>(c1 - c0) * Kc * 4);
  }
}

template <typename T>
__device__ __forceinline__ void stageOutProj(const PersistentDecodeParams& p, const Smem& s, int l, int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  int r0, r1;
  ownedRows(p.dModel, grid, r0, r1);
  stageRows<T>(s.wOut, ly.outProj, r0, r1, p.dInner);
  stageWords(s.gatedNorm, ly.gatedNorm, static_cast<int64_t>(p.dInner) * sizeof(T));
  if (ly.outProjBias != nullptr) {
    stageWords(s.outBias, static_cast<const T*>(ly.outProjBias) + r0, (r1 - r0) * sizeof(T));
  }
  stageWords(s.aVec, ly.A, static_cast<int64_t>(p.nHeads) * 4);
  stageWords(s.dVec, ly.D, static_cast<int64_t>(p.nHeads) * 4);
}

// dst[i] = src[i] for i < n4 float4s of data other CTAs wrote (L2), 8 loads in flight per thread.
__device__ __forceinline__ void copyFromL2(float* dst, const float* src, int n4) {
  const float4* s4 = reinterpret_cast<const float4*>(src);
  float4* d4 = reinterpret_cast<float4*>(dst);
  for (int base = 0; base < n4; base += 8 * kThreads) {
    float4 r[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int i = base + j * kThreads + static_cast<int>(threadIdx.x);
      if (i < n4) r[j] = __ldcg(s4 + i);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int i = base + j * kThreads + static_cast<int>(threadIdx.x);
      if (i < n4) d4[i] = r[j];
    }
  }
}

// acc[q][b] = sum_k W_q[k] act[b * K + k] over this lane's 16-byte chunks of the nr <= kRowBlock
// rows W_q = wRows + q * pitch (shared memory): each activation load serves all nr rows.
template <typename T>
__device__ __forceinline__ void rowsDot(const unsigned char* wRows, int64_t pitch, int nr, const float* act, int K,
                                        int batch, float (&acc)[kRowBlock][kMaxB]) {
  constexpr int E = 16 / sizeof(T);
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int q = 0; q < kRowBlock; ++q) {
#pragma unroll
    for (int b = 0; b < kMaxB; ++b) acc[q][b] = 0.f;
  }
  for (int ch = lane; ch < K / E; ch += 32) {
    float wf[kRowBlock][E];
#pragma unroll
    for (int q = 0; q < kRowBlock; ++q) {
      Pack<T, E> w{};
      if (q < nr) w = *reinterpret_cast<const Pack<T, E>*>(wRows + q * pitch + 16 * ch);
#pragma unroll
      for (int e = 0; e < E; ++e) wf[q][e] = toFloat(w.v[e]);
    }
#pragma unroll
    for (int b = 0; b < kMaxB; ++b) {
      if (b >= batch) break;
      float a[E];
#pragma unroll
      for (int e4 = 0; e4 < E / 4; ++e4) {
        const float4 v = *reinterpret_cast<const float4*>(act + b * K + ch * E + 4 * e4);
        a[4 * e4] = v.x;
        a[4 * e4 + 1] = v.y;
        a[4 * e4 + 2] = v.z;
        a[4 * e4 + 3] = v.w;
      }
#pragma unroll
      for (int q = 0; q < kRowBlock; ++q) {
#pragma unroll
        for (int e = 0; e < E; ++e) acc[q][b] += wf[q][e] * a[e];
      }
    }
  }
}

// Rows per warp for n rows over the CTA's warps: up to kRowBlock, fewer while warps would idle.
__device__ __forceinline__ int rowsPerWarp(int n) { return max(1, min(kRowBlock, ceilDiv(n, kWarps))); }

// The sum over the warp of acc[b] for every b < batch; lane b gets batch row b's (others 0).
__device__ __forceinline__ float laneOwnSum(float (&acc)[kMaxB], int batch) {
  const int lane = threadIdx.x % 32;
  float mine = 0.f;
#pragma unroll
  for (int b = 0; b < kMaxB; ++b) {
    if (b >= batch) break;
    const float s = warpSum(acc[b]);
    if (lane == b) mine = s;
  }
  return mine;
}

// The CTA's product rows [r0, r1) of a layer: W (rows staged from r0, K columns, in shared
// memory) times act (B, K), plus bias[i - r0] (staged, or nullptr), rounded to T; then
// epi(i, b, value) on lane b of the warp that owns row i, for every batch row b.
template <typename T, typename Epilogue>
__device__ __forceinline__ void productRows(const unsigned char* w, int K, int r0, int r1, const T* bias,
                                            const float* act, int batch, Epilogue epi) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int per = rowsPerWarp(r1 - r0);
  const int64_t pitch = static_cast<int64_t>(K) * sizeof(T);
  for (int i0 = r0 + warp * per; i0 < r1; i0 += kWarps * per) {
    const int nr = min(per, r1 - i0);
    float acc[kRowBlock][kMaxB];
    rowsDot<T>(w + (i0 - r0) * pitch, pitch, nr, act, K, batch, acc);
#pragma unroll
    for (int q = 0; q < kRowBlock; ++q) {
      if (q >= nr) break;
      const float sum = laneOwnSum(acc[q], batch);
      if (lane >= batch) continue;
      const int i = i0 + q;
      epi(i, lane, toFloat(fromFloat<T>(sum + (bias != nullptr ? toFloat(bias[i - r0]) : 0.f))));
    }
  }
}

// act[b, k] = round(act[b, k] * rstd_q * weight[k]) for the K columns of every batch row, rstd_q
// over each of `groups` equal column groups q of the row. The sums of squares use every warp in
// a fixed order (deterministic): warp w takes the 32-column chunks w, w + kWarps, ... (a chunk
// lies in one group when the group width is a multiple of 32; else one warp per row sums).
// stats: kWarps * kMaxNormPairs + kMaxNormPairs floats. Ends synchronised.
template <typename T>
__device__ void normalizeRows(float* act, int K, int groups, int batch, const T* weight, float eps, float* stats) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gs = K / groups, pairs = batch * groups;
  float* part = stats;                          // [kWarps][kMaxNormPairs]
  float* rstd = stats + kWarps * kMaxNormPairs;  // [pairs]
  for (int q = lane; q < kMaxNormPairs; q += 32) part[warp * kMaxNormPairs + q] = 0.f;
  __syncwarp();
  if (gs % 32 == 0) {
    int cur = -1;
    float ss = 0.f;
    for (int c = warp; c < batch * K / 32; c += kWarps) {
      const int b = c * 32 / K, q = b * groups + (c * 32 - b * K) / gs;  // warp-uniform
      if (q != cur) {
        if (cur >= 0) {
          const float t = warpSum(ss);
          if (lane == 0) part[warp * kMaxNormPairs + cur] += t;
        }
        cur = q;
        ss = 0.f;
      }
      const float v = act[c * 32 + lane];
      ss += v * v;
    }
    if (cur >= 0) {
      const float t = warpSum(ss);
      if (lane == 0) part[warp * kMaxNormPairs + cur] += t;
    }
  } else {
    for (int q = warp; q < pairs; q += kWarps) {
      const int b = q / groups, g = q - b * groups;
      float ss = 0.f;
      for (int k = g * gs + lane; k < (g + 1) * gs; k += 32) ss += act[b * K + k] * act[b * K + k];
      const float t = warpSum(ss);
      if (lane == 0) part[warp * kMaxNormPairs + q] = t;
    }
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < pairs) {
    float t = 0.f;
    for (int w = 0; w < kWarps; ++w) t += part[w * kMaxNormPairs + threadIdx.x];
    rstd[threadIdx.x] = rsqrtf(t / static_cast<float>(gs) + eps);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < batch * K; i += kThreads) {
    const int b = i / K, k = i - b * K;
    act[i] = toFloat(fromFloat<T>(act[i] * rstd[b * groups + k / gs] * toFloat(weight[k])));
  }
  __syncthreads();
}

// Phase 1 of layer l (W_in(l) and S(l) staged).
template <typename T>
__device__ void phaseInProj(const PersistentDecodeParams& p, const Layout& L, const Smem& s, int l, int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  const int Dm = p.dModel, Di = p.dInner, N = ly.stateSize, CD = Di + 2 * p.nGroups * N, Kc = p.convKernel;
  copyFromL2(s.act, p.residual, p.batch * Dm / 4);
  __syncthreads();
  normalizeRows<T>(s.act, Dm, 1, p.batch, staged<T>(s.norm, ly.norm), p.eps, s.stats);
  const Work w = workOf(p, L);
  int r0, r1, c0, c1;
  ownedRows(dipOf(p, N), grid, r0, r1);
  ownedChannels(Di, CD, r0, r1, c0, c1);
  const T* bias = ly.inProjBias != nullptr ? staged<T>(s.inBias, static_cast<const T*>(ly.inProjBias) + r0) : nullptr;
  productRows<T>(s.wIn, Dm, r0, r1, bias, s.act, p.batch, [&](int i, int b, float v) {
    if (i < Di) {
      w.z[b * Di + i] = v;
    } else if (i < Di + CD) {
      const int c = i - Di, slot = s.slots[b];
      float out = 0.f;
      if (slot >= 0) {
        float* win = s.convWin + b * (L.convWinPerRow / 4) + (c - c0) * Kc;  // stepped here, then stored
        out = convStepChannel(win, s.convW + (c - c0) * Kc, ly.convBias != nullptr ? s.convB[c - c0] : 0.f, v, Kc);
        float* dst = ly.convState + (static_cast<int64_t>(slot) * CD + c) * Kc;
        for (int k = 0; k < Kc; ++k) dst[k] = win[k];
      }
      w.xbc[b * L.cdMax + c] = out;
    } else {
      const int h = i - Di - CD;
      const float dt = softplus(v + s.dtBias[h]);
      w.dt[b * p.nHeads + h] = fminf(fmaxf(dt, p.dtMin), p.dtMax);
    }
  });
}

// Phase 2 of layer l (S(l) and W_out(l) staged).
template <typename T>
__device__ void phaseState(const PersistentDecodeParams& p, const Layout& L, const Smem& s, int l, int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int Di = p.dInner, G = p.nGroups, N = ly.stateSize, H = p.nHeads, P = p.headDim, HP = H * P;
  const int GN = G * N;
  const Work w = workOf(p, L);
  int r0, r1;
  ownedRows(p.batch * HP, grid, r0, r1);
  // B and C of every row, and x, z, dt of the CTA's state rows: loads of 4 items per thread in flight.
  const int nBc = p.batch * 2 * GN, nItems = nBc + 3 * (r1 - r0);
  for (int base = 0; base < nItems; base += 4 * kThreads) {
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int i = base + j * kThreads + static_cast<int>(threadIdx.x);
      const float* src = nullptr;
      if (i < nBc) {
        const int b = i / (2 * GN);
        src = w.xbc + b * L.cdMax + Di + (i - b * 2 * GN);
      } else if (i < nItems) {
        const int q = (i - nBc) / 3, r = r0 + q, b = r / HP, hp = r - b * HP, k = i - nBc - 3 * q;
        src = k == 0 ? w.xbc + b * L.cdMax + hp : k == 1 ? w.z + b * Di + hp : w.dt + b * H + hp / P;
      }
      v[j] = src != nullptr ? __ldcg(src) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int i = base + j * kThreads + static_cast<int>(threadIdx.x);
      if (i < nBc) {
        s.bc[i] = v[j];
      } else if (i < nItems) {
        s.rowData[i - nBc] = v[j];
      }
    }
  }
  __syncthreads();
  for (int i = r0 + warp; i < r1; i += kWarps) {
    const int rl = i - r0, b = i / HP, hp = i - b * HP, h = hp / P, g = h / (H / G);
    const int slot = s.slots[b];
    if (slot < 0) {
      if (lane == 0) w.yg[b * Di + hp] = 0.f;
      continue;
    }
    const float x = s.rowData[3 * rl], z = s.rowData[3 * rl + 1], dt = s.rowData[3 * rl + 2];
    const float dA = __expf(dt * staged<float>(reinterpret_cast<unsigned char*>(s.aVec), ly.A)[h]), dtx = dt * x;
    const float* Bg = s.bc + b * 2 * GN + g * N;
    const float* Cg = Bg + GN;
    const float* st = s.state + rl * N;
    float* out = ly.ssmState + (static_cast<int64_t>(slot) * HP + hp) * N;
    float acc = 0.f;
    for (int n = lane; n < N; n += 32) {
      const float v = st[n] * dA + dtx * Bg[n];
      out[n] = v;
      acc += v * Cg[n];
    }
    const float y = warpSum(acc) + staged<float>(reinterpret_cast<unsigned char*>(s.dVec), ly.D)[h] * x;
    if (lane == 0) w.yg[b * Di + hp] = y * silu(z);
  }
}

// Phase 3 of layer l (W_out(l) staged).
template <typename T>
__device__ void phaseOutProj(const PersistentDecodeParams& p, const Layout& L, const Smem& s, int l, int grid) {
  const PersistentDecodeLayer& ly = p.layers[l];
  const int Dm = p.dModel, Di = p.dInner;
  const Work w = workOf(p, L);
  copyFromL2(s.act, w.yg, p.batch * Di / 4);
  __syncthreads();
  normalizeRows<T>(s.act, Di, p.nGroups, p.batch, staged<T>(s.gatedNorm, ly.gatedNorm), p.eps, s.stats);
  int r0, r1;
  ownedRows(Dm, grid, r0, r1);
  const T* bias = ly.outProjBias != nullptr ? staged<T>(s.outBias, static_cast<const T*>(ly.outProjBias) + r0) : nullptr;
  productRows<T>(s.wOut, Di, r0, r1, bias, s.act, p.batch, [&](int i, int b, float v) {
    float& own = s.resOwn[b * L.rowsOut + (i - r0)];
    own += v;
    p.residual[static_cast<int64_t>(b) * Dm + i] = own;
  });
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 1)
    persistentDecodeKernel(const __grid_constant__ PersistentDecodeParams p, int firstStep, int lastStep) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int grid = static_cast<int>(gridDim.x);
  const Layout L = layoutOf(p, grid, sizeof(T));
  Smem s;
  unsigned char* at = smem;
  auto take = [&](int64_t bytes) {
    unsigned char* r = at;
    at += bytes;
    return r;
  };
  s.wIn = take(L.wIn);
  s.norm = take(L.norm);
  s.inBias = take(L.inBias);
  s.convW = reinterpret_cast<float*>(take(L.convW));
  s.convB = reinterpret_cast<float*>(take(L.convB));
  s.dtBias = reinterpret_cast<float*>(take(L.dtBias));
  s.state = reinterpret_cast<float*>(take(L.state));
  s.convWin = reinterpret_cast<float*>(take(L.convWin));
  s.wOut = take(L.wOut);
  s.gatedNorm = take(L.gatedNorm);
  s.outBias = take(L.outBias);
  s.aVec = reinterpret_cast<float*>(take(L.aVec));
  s.dVec = reinterpret_cast<float*>(take(L.dVec));
  s.act = reinterpret_cast<float*>(take(L.act));
  s.bc = reinterpret_cast<float*>(take(L.bc));
  s.rowData = reinterpret_cast<float*>(take(L.rowData));
  s.resOwn = reinterpret_cast<float*>(take(L.resOwn));
  s.stats = reinterpret_cast<float*>(take(L.stats));
  s.slots = reinterpret_cast<int*>(take(L.slots));
  if (threadIdx.x < kMaxB) s.slots[threadIdx.x] = static_cast<int>(threadIdx.x) < p.batch ? p.slots[threadIdx.x] : -1;
  {
    int o0, o1;
    ownedRows(p.dModel, grid, o0, o1);
    for (int i = threadIdx.x; i < p.batch * (o1 - o0); i += kThreads) {
      const int b = i / (o1 - o0), j = i - b * (o1 - o0);
      s.resOwn[b * L.rowsOut + j] = __ldcg(p.residual + static_cast<int64_t>(b) * p.dModel + o0 + j);
    }
  }
  __syncthreads();
  // One step per launch: everything the step reads is staged now and waited for.
  const bool persistentRun = lastStep - firstStep > 1;
  if (persistentRun) {
    const int l0 = firstStep / 3;
    stageInProj<T>(p, s, l0, grid);
    cpAsyncCommit();
    stageState(p, L, s, l0, grid);
    cpAsyncCommit();
    stageOutProj<T>(p, s, l0, grid);
    cpAsyncCommit();
  }
  for (int step = firstStep; step < lastStep; ++step) {
    const int l = step / 3, phase = step % 3;
    if (!persistentRun) {
      stageInProj<T>(p, s, l, grid);
      stageState(p, L, s, l, grid);
      stageOutProj<T>(p, s, l, grid);
      cpAsyncCommit();
      cpAsyncWaitGroup<0>();
      __syncthreads();
    }
    if (phase == 0) {
      cpAsyncWaitGroup<1>();  // W_in(l), S(l)
      __syncthreads();
      phaseInProj<T>(p, L, s, l, grid);
      __syncthreads();  // every warp is done with W_in(l)
      if (persistentRun && l + 1 < p.nLayers) stageInProj<T>(p, s, l + 1, grid);
      cpAsyncCommit();
    } else if (phase == 1) {
      cpAsyncWaitGroup<1>();  // W_out(l)
      __syncthreads();
      phaseState<T>(p, L, s, l, grid);
    } else {
      phaseOutProj<T>(p, L, s, l, grid);
      __syncthreads();  // every warp is done with S(l) and W_out(l)
      if (persistentRun && l + 1 < p.nLayers) stageState(p, L, s, l + 1, grid);
      cpAsyncCommit();
      if (persistentRun && l + 1 < p.nLayers) stageOutProj<T>(p, s, l + 1, grid);
      cpAsyncCommit();
    }
    if (step + 1 < lastStep) gridBarrier(p.barrier, static_cast<unsigned>(step + 1 - firstStep) * gridDim.x);
  }
  if (persistentRun) gridBarrierRelease(p.barrier);
  cpAsyncWaitGroup<0>();
}

}  // namespace persistent

template <typename T>
void launchPersistentDecodeTyped(const PersistentDecodeParams& p, int grid, int64_t smem, int firstStep, int lastStep,
                                 Stream stream) {
  auto* kernel = &persistent::persistentDecodeKernel<T>;
  MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  launchKernelCooperative(kernel, dim3(grid), dim3(persistent::kThreads), static_cast<size_t>(smem),
                          static_cast<cudaStream_t>(stream), lastStep - firstStep > 1, p, firstStep, lastStep);
}

}  // namespace mamba::kernels
