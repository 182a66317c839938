// The single-tile SSD kernel of launchSsdPrefill (ssd_prefill.h): calls of at most
// kSsdSingleTileMaxLen steps (one chunk whose steps fit one 64-row tile: every short prompt)
// in one launch instead of ssdChunkPrepare + ssdChunkScan (sm_90: thread-block clusters).
//
//   ssdSingleTileKernel  grid (H * tilesP * (2 + tilesN), 1, B), 4 warps per block, one
//                        cluster of 2 + tilesN blocks per (sequence b, head h, 64-lane tile p0):
//     rank 1, M = (CB o exp(cs_t - cs_s) dt_s, causal) in operand type, CB = C B^T (a 64 x 64 x
//       N product, recomputed by every head of the group: cheaper than a launch), left in its
//       shared memory for rank 0;
//     rank 0, y[b, :, h*P + p0 .. +64) = exp(cs_t) C S_in^T (continued sequences only; S_in read
//       straight from the pool) + M x + D x, with M copied from rank 1 (distributed shared
//       memory) once it is ready;
//     rank 2 + j, the pool's state rows p0 .. p0+64, columns n0 = 64 j .. +64:
//       sLoc = (x o w)^T B, w_t = exp(cs_end - cs_t) dt_t; state <- exp(cs_end) S_in + sLoc.
// Two cluster barrier phases: A (rank 0 has read S_in, rank 1 has written M; the state blocks
// store and rank 0 copies M after it) and B (rank 0 has copied M; rank 1 may exit after it).
// So the pool needs no copy of S_in (the three-launch path keeps one in chunkInit) and there is
// no workspace. Every product, operand staging and elementwise expression is the one of the
// three-launch path, in the same order, so the results are bit-identical to it
// (tests/kernels/ssd_prefill_test.cc checks that).
#pragma once

#include <cooperative_groups.h>

#include "kernels/common/cluster.cuh"
#include "kernels/ssd_prefill/ssd_prefill.cuh"

namespace mamba::kernels {
namespace ssd {

// Dynamic shared memory of ssdSingleTileKernel<T> (rank 1's need; the others use less): the
// fp32 CB tile, then two 64 x 64 operand tiles of T (also the fp32 accumulator tile).
template <typename T>
constexpr int singleTileSharedBytes() {
  constexpr int operands = 2 * kTile * kLdWide * static_cast<int>(sizeof(T));
  constexpr int acc = kTile * kLdWide * 4;
  return kTile * kLdWide * 4 + (operands > acc ? operands : acc);
}

// Blocks per cluster: the y block, the M block and one per 64-state tile.
__host__ __device__ inline int singleTileRanks(int stateSize) { return 2 + (stateSize + kTile - 1) / kTile; }

// M[t][s] (kTile x kLdWide of T, row-major) of the cluster's sequence and group, in the shared
// memory of rank 1 (smem + kTile * kLdWide * 4).
template <typename T>
__device__ __forceinline__ T* singleTileMs(unsigned char* smem) {
  return reinterpret_cast<T*>(smem + kTile * kLdWide * 4);
}

// Rank 1 of a cluster: M = (CB o exp(cs_t - cs_s) dt_s, causal) into singleTileMs, then phase A.
template <typename T>
__device__ void singleTileM(const SsdPrefillParams& p, const VecFlags& vec, unsigned char* smem, int b, int h,
                            int clen, const float* cs, const float* dts) {
  const int L = p.seqLen, H = p.nHeads, P = p.headDim, N = p.stateSize, G = p.nGroups;
  const int Np = statePitch(p), Di = H * P, CD = Di + 2 * G * Np, g = h / (H / G);
  const T* xbc = static_cast<const T*>(p.xbc) + static_cast<int64_t>(b) * L * CD;
  const T* bg = xbc + Di + g * Np;
  const T* cg = xbc + Di + (G + g) * Np;
  const int warp = threadIdx.x / 32, r0 = (warp / 2) * 32, c0 = (warp % 2) * 32;
  float* CBs = reinterpret_cast<float*>(smem);  // (kTile, kLdWide): CB[t][s]
  AccFrag<T> acc[2][2];
  zeroAcc<T>(acc);
  cbTileProduct<T, false>(acc, smem + kTile * kLdWide * 4, cg, bg, CD, clen, clen, N, vec.xbc);
  storeAcc<T>(acc, CBs, r0, c0);
  __syncthreads();
  T* Ms = singleTileMs<T>(smem);
  for (int i = threadIdx.x; i < kTile * kTile; i += kThreads) {
    const int t = i / kTile, s = i % kTile;
    const float v = CBs[t * kLdWide + s];
    Ms[t * kLdWide + s] = fromFloat<T>(t < clen && s <= t ? v * __expf(fminf(cs[t] - cs[s], 0.f)) * dts[s] : 0.f);
  }
  clusterArrive();  // A: M is ready
}

// Rank 0 of a cluster: y[b, t, h*P + p0 + c] for t < L (0 from clen on). Arrives on phase A
// after its reads of S_in, waits on it for M, and arrives on phase B once M is copied.
template <typename T>
__device__ void singleTileY(const SsdPrefillParams& p, const VecFlags& vec, unsigned char* smem, int b, int h, int p0,
                            int clen, const float* cs) {
  __shared__ float expCs[kTile];
  const int L = p.seqLen, H = p.nHeads, P = p.headDim, N = p.stateSize, G = p.nGroups;
  const int Np = statePitch(p), Di = H * P, CD = Di + 2 * G * Np, g = h / (H / G);
  const int slot = p.slots[b];
  const T* xbc = static_cast<const T*>(p.xbc) + static_cast<int64_t>(b) * L * CD;
  const T* xh = xbc + h * P + p0;
  const T* cg = xbc + Di + (G + g) * Np;
  const int warp = threadIdx.x / 32, r0 = (warp / 2) * 32, c0 = (warp % 2) * 32;
  T* Ms = singleTileMs<T>(smem);         // (kTile, kLdWide): Ms[t][s], row-major A (rank 1's copy)
  T* Xs = Ms + kTile * kLdWide;          // (kTile, kLdWide): Xs[s][p], row-major B
  float* Ys = reinterpret_cast<float*>(Ms);  // the accumulator tile, after the products
  AccFrag<T> acc[2][2];
  zeroAcc<T>(acc);
  TileLoader<kTile, kTile, T> xl(vec.xbc);

  // exp(cs_t) C S_in^T, first: the state blocks wait for these reads before they store.
  if (slot >= 0 && p.cont[b] != 0) {
    for (int t = threadIdx.x; t < clen; t += kThreads) expCs[t] = __expf(cs[t]);
    __syncthreads();
    T* As = Ms;                      // (kTile, kLdNarrow): As[t][n], row-major A
    T* Ss = As + kTile * kLdNarrow;  // (kTile, kLdNarrow): Ss[p][n], col-major B (n x p)
    const int64_t poolRows = (static_cast<int64_t>(slot) * H + h) * P * N + static_cast<int64_t>(p0) * N;
    TileLoader<kTile, kKStep, T> cl(vec.xbc);
    auto inter = [&](auto* state) {
      TileLoader<kTile, kKStep, std::remove_cv_t<std::remove_pointer_t<decltype(state)>>> sl(vec.pool);
      auto load = [&](int k0) {
        cl.load(cg + k0, CD, clen, N - k0);
        sl.load(state + poolRows + k0, N, P - p0, N - k0);
      };
      load(0);
      for (int k0 = 0; k0 < N; k0 += kKStep) {
        cl.store(As, kLdNarrow, [&](int r, int, float v) { return v * expCs[r]; });
        sl.store(Ss, kLdNarrow, Identity{});
        __syncthreads();
        if (k0 + kKStep < N) {
          load(k0 + kKStep);
        } else {
          xl.load(xh, CD, clen, P - p0);
        }
        warpMma<T, wmma::row_major, wmma::col_major, kKStep, false>(acc, As, kLdNarrow, Ss, kLdNarrow, N - k0, r0,
                                                                     c0, kTile, kTile);
        __syncthreads();
      }
    };
    if (p.stateElem == ElemType::kBF16) {
      inter(static_cast<const __nv_bfloat16*>(p.state));
    } else {
      inter(static_cast<const float*>(p.state));
    }
  } else {
    xl.load(xh, CD, clen, P - p0);
  }
  clusterArrive();  // A: S_in is read
  xl.store(Xs, kLdWide, Identity{});
  clusterWait();  // A: M is ready in rank 1
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  {
    const uint4* remote = reinterpret_cast<const uint4*>(cooperative_groups::this_cluster().map_shared_rank(Ms, 1));
    uint4* local = reinterpret_cast<uint4*>(Ms);
    constexpr int kVectors = kTile * kLdWide * static_cast<int>(sizeof(T)) / 16;
    for (int i = threadIdx.x; i < kVectors; i += kThreads) local[i] = remote[i];
  }
#endif
  clusterArrive();  // B: M is copied
  __syncthreads();
  warpMma<T, wmma::row_major, wmma::row_major, kTile, false>(acc, Ms, kLdWide, Xs, kLdWide, kTile, r0, c0, kTile,
                                                             kTile);
  __syncthreads();
  storeAcc<T>(acc, Ys, r0, c0);
  __syncthreads();
  float* y = p.y + static_cast<int64_t>(b) * L * Di + h * P + p0;  // y[t, c] at y[t * Di + c]
  storeYTile<T>(y, Di, xh, CD, Ys, L, P - p0, clen, p.D[h]);
}

// Rank 2 + n0 / 64 of a cluster: sLoc[p, n] = sum_t (x[t, p] w_t) B[t, n] for the (p0, n0)
// tile; the pool <- exp(cs_end) S_in + sLoc once rank 0 has read S_in.
template <typename T>
__device__ void singleTileState(const SsdPrefillParams& p, const VecFlags& vec, unsigned char* smem, int b, int h,
                                int p0, int n0, int clen, const float* cs, const float* dts) {
  __shared__ float wt[kTile];
  const int L = p.seqLen, H = p.nHeads, P = p.headDim, N = p.stateSize, G = p.nGroups;
  const int Np = statePitch(p), Di = H * P, CD = Di + 2 * G * Np, g = h / (H / G);
  const T* xbc = static_cast<const T*>(p.xbc) + static_cast<int64_t>(b) * L * CD;
  const int warp = threadIdx.x / 32, r0 = (warp / 2) * 32, c0 = (warp % 2) * 32;
  T* Xw = reinterpret_cast<T*>(smem);  // (kKStep, kLdWide): Xw[t][p], the col-major A operand (p x t)
  T* Bs = Xw + kKStep * kLdWide;       // (kKStep, kLdWide): Bs[t][n], the row-major B operand (t x n)
  float* Ys = reinterpret_cast<float*>(smem);
  TileLoader<kKStep, kTile, T> xl(vec.xbc), bl(vec.xbc);
  xl.load(xbc + h * P + p0, CD, clen, P - p0);
  bl.load(xbc + Di + g * Np + n0, CD, clen, N - n0);
  const float csEnd = cs[clen - 1];
  for (int t = threadIdx.x; t < clen; t += kThreads) {
    wt[t] = dts[t];
    wt[t] *= __expf(fminf(csEnd - cs[t], 0.f));
  }
  __syncthreads();
  xl.store(Xw, kLdWide, [&](int r, int, float v) { return v * wt[r]; });
  bl.store(Bs, kLdWide, Identity{});
  __syncthreads();
  AccFrag<T> acc[2][2];
  zeroAcc<T>(acc);
  warpMma<T, wmma::col_major, wmma::row_major, kKStep, false>(acc, Xw, kLdWide, Bs, kLdWide, clen, r0, c0, kTile,
                                                              kTile);
  __syncthreads();
  storeAcc<T>(acc, Ys, r0, c0);
  __syncthreads();
  clusterWait();  // A: rank 0 has read S_in
  singleChunkState<T>(p, b, h, p0, n0, __expf(csEnd), Ys, /*keepInit=*/false);
}

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks) ssdSingleTileKernel(SsdPrefillParams p, VecFlags vec) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  __trap();  // clusters: the launcher takes the three-launch path below sm_90
#else
  pdlEnter();
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ float cs[kTile], dts[kTile];
  const int ranks = singleTileRanks(p.stateSize);
  const int rank = static_cast<int>(blockIdx.x) % ranks, unit = static_cast<int>(blockIdx.x) / ranks;
  const int b = blockIdx.z, h = unit % p.nHeads, p0 = (unit / p.nHeads) * kTile;
  const int clen = chunkLength(p, b, 0);
  if (clen <= 0) {  // no tokens: y rows are padding, and the state is S_in (0 when fresh)
    if (rank == 0) {
      const int Di = p.nHeads * p.headDim;
      float* y = p.y + static_cast<int64_t>(b) * p.seqLen * Di + h * p.headDim + p0;
      for (int i = threadIdx.x; i < p.seqLen * kTile; i += kThreads) {
        if (p0 + i % kTile < p.headDim) y[static_cast<int64_t>(i / kTile) * Di + i % kTile] = 0.f;
      }
    }
    clusterArrive();
    clusterWait();
    if (rank > 1) singleChunkState<T>(p, b, h, p0, (rank - 2) * kTile, 0.f, nullptr, /*keepInit=*/false);
    clusterArrive();
    clusterWait();
    return;
  }
  // cs is read by every rank but the y block, which needs it only for exp(cs_t) C S_in^T.
  if (rank != 0 || (p.slots[b] >= 0 && p.cont[b] != 0)) {
    chunkCumsum(p.dt + static_cast<int64_t>(b) * p.seqLen * p.nHeads + h, p.nHeads, p.A[h], clen, cs, dts);
  }
  if (rank == 0) {
    singleTileY<T>(p, vec, smem, b, h, p0, clen, cs);  // arrives on A and B, waits on A
  } else if (rank == 1) {
    singleTileM<T>(p, vec, smem, b, h, clen, cs, dts);  // arrives on A
    clusterWait();
    clusterArrive();
  } else {
    clusterArrive();
    singleTileState<T>(p, vec, smem, b, h, p0, (rank - 2) * kTile, clen, cs, dts);  // waits on A
    clusterArrive();
  }
  clusterWait();  // B: rank 1's shared memory is no longer read
#endif
}

}  // namespace ssd
}  // namespace mamba::kernels
