// Kernel of launchDecodeGemm (decode_gemm.h): split-K over a thread-block cluster, mma.sync on
// tiles held whole in shared memory, the partial tiles reduced through distributed shared
// memory in rank order, then the GEMV's epilogues. One CTA = 8 warps; warp w owns the tile's
// weight rows [w * 8 * NW8, (w + 1) * 8 * NW8) for all 16 * MT batch rows and the whole slice.
#pragma once

#include <algorithm>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/cluster.cuh"
#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_info.h"
#include "kernels/common/dispatch.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/common/mma_sm80.cuh"
#include "kernels/conv_step/conv_step.cuh"
#include "kernels/decode_gemm/decode_gemm.h"

namespace mamba::kernels {
namespace dgemm {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kStatRows = kDecodeGemmMaxBatch;  // stats arrays are sized for the largest batch

// Everything the kernel needs besides GemvParams (decided by the launcher).
struct Args {
  GemvParams p;
  int clusterSize = 1;  // CTAs per cluster (K split)
  int sliceK = 0;       // K / clusterSize, a multiple of 16, <= kDecodeGemmMaxSliceK
  int vec4 = 0;         // x (kNone) or z (kGatedRmsNorm): 4-element loads are 8-byte aligned
  int convVec = 0;      // kStoreConvStep with kernelSize 4 and 16-byte aligned state and weight
};

// Shared-memory layout (bytes), the same on host and device. A (rowsPad x kPitch) and W
// (tileN x kPitch) tiles of the element type; the fp32 partial tile (rowsPad x pPitch) aliases
// them once the MMAs are done. Then the conv weights (tileN / clusterSize float4s) and the
// prefetched conv states (batch x tileN / clusterSize float4s) when convState, then the stats:
// (sum of squares, local scale)[64] (float2) and slot[64] (int32).
struct Layout {
  int kPitch = 0, pPitch = 0;  // elements per A/W row; floats per partial row
  int wOff = 0, convWOff = 0, stateOff = 0, statsOff = 0, total = 0;
};

__host__ __device__ inline Layout layoutOf(int mTiles, int tileN, int sliceK, int clusterSize, int batch,
                                           bool convState) {
  Layout L;
  // (sliceK + 8) * 2 bytes = an odd number of 16-byte units (sliceK % 16 == 0): the 8 row
  // addresses of one ldmatrix phase fall in distinct bank quads.
  L.kPitch = sliceK + 8;
  // tileN + 8 = 8 mod 32 floats: a half-warp's float2 stores of 4 rows x 8 columns hit 32 banks.
  L.pPitch = tileN + 8;
  const int rowsPad = 16 * mTiles;
  const int aBytes = rowsPad * L.kPitch * 2, wBytes = tileN * L.kPitch * 2, pBytes = rowsPad * L.pPitch * 4;
  L.wOff = aBytes;
  const int mainBytes = ((aBytes + wBytes > pBytes ? aBytes + wBytes : pBytes) + 15) / 16 * 16;
  const int ownCols = tileN / clusterSize;
  L.convWOff = mainBytes;
  L.stateOff = L.convWOff + (convState ? ownCols * 16 : 0);
  L.statsOff = L.stateOff + (convState ? batch * ownCols * 16 : 0);
  L.total = L.statsOff + kStatRows * (8 + 4);
  return L;
}

// Cluster barriers: kernels/common/cluster.cuh (the kernel body is compiled for sm_90+ only).
// The address of the same shared-memory location in the cluster's CTA `rank`.
__device__ __forceinline__ uint32_t mapRank(uint32_t addr, int rank) {
  uint32_t r = addr;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(addr), "r"(rank));
#endif
  return r;
}
__device__ __forceinline__ float ldCluster(uint32_t addr) {
  float v = 0.f;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(addr) : "memory");
#endif
  return v;
}
__device__ __forceinline__ float2 ldCluster2(uint32_t addr) {
  float2 v = make_float2(0.f, 0.f);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.v2.f32 {%0, %1}, [%2];\n" : "=f"(v.x), "=f"(v.y) : "r"(addr) : "memory");
#endif
  return v;
}
__device__ __forceinline__ float4 ldCluster4(uint32_t addr) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(addr)
               : "memory");
#endif
  return v;
}

// Four consecutive elements as raw bits (8-byte load when `vec`, else element by element).
template <typename T>
__device__ __forceinline__ uint2 load4(const T* src, bool vec) {
  if (vec) return *reinterpret_cast<const uint2*>(src);
  uint2 r;
  T* e = reinterpret_cast<T*>(&r);
#pragma unroll
  for (int i = 0; i < 4; ++i) e[i] = src[i];
  return r;
}
template <typename T>
__device__ __forceinline__ float elemOf4(const uint2& raw, int i) {
  return toFloat(reinterpret_cast<const T*>(&raw)[i]);
}

// log2 of a power of two.
__device__ __forceinline__ int log2Pow2(int v) { return __ffs(v) - 1; }

template <typename T, GemvPrologue PRO, int MT, int NW8>
__device__ __forceinline__ void decodeGemmBody(const Args& a) {
  constexpr int kTileN = 64 * NW8;  // weight rows per cluster
  constexpr int kRowsPad = 16 * MT;  // batch rows of the MMA
  constexpr int kRowsPerWarp = kRowsPad / kWarps;  // prologue: rows warp + 8 i
  constexpr int kRowGroup = kRowsPerWarp < 4 ? kRowsPerWarp : 4;  // rows whose loads are in flight together
  constexpr bool kPlain = PRO == GemvPrologue::kNone, kGated = PRO == GemvPrologue::kGatedRmsNorm;
  static_assert(kRowsPad <= kStatRows && kRowsPerWarp * kWarps == kRowsPad, "batch tiles");
  static_assert(kRowsPerWarp % kRowGroup == 0, "row groups");
  extern __shared__ __align__(16) unsigned char smem[];
  const GemvParams& p = a.p;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int CK = a.clusterSize, sliceK = a.sliceK, K = p.cols, N = p.rows, batch = p.batch;
  const int rank = static_cast<int>(blockIdx.x) % CK;  // == %cluster_ctarank for 1-D clusters
  const int n0 = static_cast<int>(blockIdx.x) / CK * kTileN, k0 = rank * sliceK;
  const int ownCols = kTileN / CK, own0 = rank * ownCols;  // this CTA's columns of the epilogue
  const int ownShift = log2Pow2(ownCols);
  const bool convEpi = p.epilogue == GemvEpilogue::kStoreConvStep;
  const bool convVec = convEpi && a.convVec != 0;
  const Layout L = layoutOf(MT, kTileN, sliceK, CK, batch, convVec);
  T* As = reinterpret_cast<T*>(smem);
  float* Ps = reinterpret_cast<float*>(smem);  // after the MMAs
  float4* convWS = reinterpret_cast<float4*>(smem + L.convWOff);
  float4* stateS = reinterpret_cast<float4*>(smem + L.stateOff);
  float2* statS = reinterpret_cast<float2*>(smem + L.statsOff);  // (ss, ls) per batch row
  int* slotS = reinterpret_cast<int*>(statS + kStatRows);
  const uint32_t aBase = smemAddr(smem), wBase = smemAddr(smem + L.wOff);

  // Epilogue items: (batch row, itemCols consecutive own columns), itemCols = 1, 2 or 4, the
  // narrowest that keeps the items within one pass of the CTA's threads (more threads share
  // the latency-bound reduction at small batch; wider loads at large batch). A thread's
  // columns are the same for all its items: tile columns [colLoc, colLoc + itemCols) of rows
  // (tid >> cprShift) + 256 / cpr * k (cpr = ownCols / itemCols, a power of two <= 256).
  const int itemCols = batch * ownCols <= kThreads ? 1 : batch * ownCols <= 2 * kThreads ? 2 : 4;
  const int cprShift = ownShift - log2Pow2(itemCols);
  const int colLoc = own0 + itemCols * (tid & ((1 << cprShift) - 1));
  const int nEpi = n0 + colLoc;
  const GemvConvStep& cv = p.conv;

  // ---- Before pdlEnter: constant weights only (launch.cuh's contract).
  {
    const T* W = static_cast<const T*>(p.weight);
    const int chunks = sliceK / 8;  // 16-byte chunks of one W row slice
    // (r, c) of chunk i = tid + 256 j, stepped without a division per chunk.
    const int dr = kThreads / chunks, dc = kThreads - dr * chunks;
    int r = tid / chunks, c = tid - r * chunks;
    for (int i = tid; i < kTileN * chunks; i += kThreads) {
      const int n = n0 + r;
      const T* src = W + static_cast<int64_t>(n < N ? n : N - 1) * K + k0 + c * 8;
      cpAsync16(wBase + (r * L.kPitch + c * 8) * 2, src, n < N ? 16 : 0);
      r += dr;
      c += dc;
      if (c >= chunks) {
        c -= chunks;
        ++r;
      }
    }
    if (convVec && tid < ownCols) {
      const int cc = n0 + own0 + tid - cv.row0;
      if (cc >= 0 && cc < cv.channels) cpAsync16(smemAddr(convWS + tid), cv.weight + static_cast<int64_t>(cc) * 4, 16);
    }
    cpAsyncCommit();
  }
  // Raw loads now, converted after pdlEnter (a conversion here would stall until they land).
  const T* biasP = static_cast<const T*>(p.bias);
  T biasRaw[4];
  float convBias[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int n = nEpi + j, c = n - cv.row0;
    biasRaw[j] = biasP != nullptr && j < itemCols && n < N ? biasP[n] : fromFloat<T>(0.f);
    convBias[j] = convEpi && cv.bias != nullptr && j < itemCols && c >= 0 && c < cv.channels ? cv.bias[c] : 0.f;
  }
  // Lane owns the 4-column chunks lane and lane + 32 of the slice (the second only when the
  // slice has more than 32 chunks: a warp-uniform condition).
  const int nChunks = sliceK / 4;
  const int chunkSlots = nChunks > 32 ? 2 : 1;
  T wnRaw[2][4];
  if constexpr (!kPlain) {
    const T* wn = static_cast<const T*>(p.normWeight);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int ch = lane + 32 * j;
#pragma unroll
      for (int e = 0; e < 4; ++e) wnRaw[j][e] = j < chunkSlots && ch < nChunks ? wn[k0 + 4 * ch + e] : fromFloat<T>(0.f);
    }
  }

  pdlEnter();

  // ---- Prologue: v for the slice of every batch row, its sum of squares, a local scale (so
  // fp16 operands stay in range), A = round(v * scale * normWeight); loads of kRowGroup rows
  // in flight together.
  int slotRaw = -1;
  if (convEpi && tid < batch) slotRaw = cv.slots[tid];
  // The residual of this thread's first epilogue item, loaded now so that its latency hides
  // behind the prologue and the MMAs (one item per thread at every shape but clusterSize 1).
  float resPre[4] = {0.f, 0.f, 0.f, 0.f};
  const int firstRow = tid >> cprShift;
  if (p.epilogue == GemvEpilogue::kResidualAdd && firstRow < batch) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      if (j < itemCols && nEpi + j < N) resPre[j] = p.residual[static_cast<int64_t>(firstRow) * N + nEpi + j];
    }
  }
#pragma unroll
  for (int i0 = 0; i0 < kRowsPerWarp; i0 += kRowGroup) {
    float4 fv[kRowGroup][2];
    uint2 hv[kRowGroup][2];
#pragma unroll
    for (int i = 0; i < kRowGroup; ++i) {
      const int m = warp + kWarps * (i0 + i);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        fv[i][j] = make_float4(0.f, 0.f, 0.f, 0.f);
        hv[i][j] = make_uint2(0u, 0u);
        const int ch = lane + 32 * j;
        if (j >= chunkSlots || m >= batch || ch >= nChunks) continue;
        const int k = k0 + 4 * ch;
        if constexpr (PRO == GemvPrologue::kRmsNorm) {
          fv[i][j] = *reinterpret_cast<const float4*>(p.normInput + static_cast<int64_t>(m) * K + k);
        } else if constexpr (kGated) {
          fv[i][j] = *reinterpret_cast<const float4*>(p.y + static_cast<int64_t>(m) * K + k);
          hv[i][j] = load4(static_cast<const T*>(p.z) + m * p.zStride + k, a.vec4 != 0);
        } else {
          hv[i][j] = load4(static_cast<const T*>(p.x) + m * p.xStride + k, a.vec4 != 0);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < kRowGroup; ++i) {
      const int m = warp + kWarps * (i0 + i);
      float v[2][4];
      float ss = 0.f;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const float f[4] = {fv[i][j].x, fv[i][j].y, fv[i][j].z, fv[i][j].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if constexpr (PRO == GemvPrologue::kRmsNorm) {
            v[j][e] = f[e];
          } else if constexpr (kGated) {
            v[j][e] = f[e] * silu(elemOf4<T>(hv[i][j], e));
          } else {
            v[j][e] = elemOf4<T>(hv[i][j], e);
          }
          if constexpr (!kPlain) ss += v[j][e] * v[j][e];
        }
      }
      float ls = 1.f;
      if constexpr (!kPlain) {
        ss = warpSum(ss);
        ls = rsqrtf(ss / static_cast<float>(sliceK) + p.eps);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int ch = lane + 32 * j;
        if (j >= chunkSlots || ch >= nChunks) continue;
        uint2 packed;
        T* o = reinterpret_cast<T*>(&packed);
#pragma unroll
        for (int e = 0; e < 4; ++e) o[e] = fromFloat<T>(kPlain ? v[j][e] : v[j][e] * ls * toFloat(wnRaw[j][e]));
        *reinterpret_cast<uint2*>(As + m * L.kPitch + 4 * ch) = packed;  // rows >= batch: zeros
      }
      if (lane == 0) statS[m] = make_float2(ss, ls);
    }
  }
  if (tid < kRowsPad) slotS[tid] = slotRaw;  // -1 past the batch
  cpAsyncWaitAll();  // the W tile (and conv weights)
  __syncthreads();

  // ---- Conv states of this CTA's channels, prefetched behind the MMAs and the cluster sync.
  if (convVec) {
    const uint32_t sBase = smemAddr(stateS);
    for (int i = tid; i < batch * ownCols; i += kThreads) {
      const int m = i >> ownShift, cl = i & (ownCols - 1);
      const int c = n0 + own0 + cl - cv.row0, slot = slotS[m];
      if (slot >= 0 && c >= 0 && c < cv.channels) {
        cpAsync16(sBase + i * 16, cv.state + (static_cast<int64_t>(slot) * cv.channels + c) * 4, 16);
      }
    }
    cpAsyncCommit();
  }

  // ---- MMAs over the slice.
  float acc[MT][NW8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int j = 0; j < NW8; ++j) acc[mt][j][0] = acc[mt][j][1] = acc[mt][j][2] = acc[mt][j][3] = 0.f;
  }
  {
    const int wCol0 = warp * 8 * NW8;
    // A (x4): lane l addresses row l % 16, columns (l / 16) * 8: matrices a0..a3 of the PTX layout.
    const uint32_t aLane = aBase + ((lane % 16) * L.kPitch + (lane / 16) * 8) * 2;
    // W (x4, two n8 tiles): matrix j = l / 8 is n block j / 2, k half j % 2 -> b0, b1 of tile
    // 2p, then of tile 2p + 1. (x2, one n8 tile: lanes 0..15 give b0, b1; 16..31 are ignored.)
    const uint32_t bLane =
        NW8 == 1 ? wBase + ((wCol0 + lane % 8) * L.kPitch + ((lane / 8) % 2) * 8) * 2
                 : wBase + ((wCol0 + (lane / 16) * 8 + lane % 8) * L.kPitch + ((lane / 8) % 2) * 8) * 2;
    // Two k steps in flight where the registers allow (the larger tiles would spill).
    constexpr int kUnrollK = MT * NW8 <= 4 ? 2 : 1;
#pragma unroll kUnrollK
    for (int kk = 0; kk < sliceK; kk += 16) {
      uint32_t af[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) ldmatrixX4(af[mt], aLane + (mt * 16 * L.kPitch + kk) * 2);
      uint32_t bf[NW8][2];
      if constexpr (NW8 == 1) {
        ldmatrixX2(bf[0], bLane + kk * 2);
      } else {
#pragma unroll
        for (int pr = 0; pr < NW8 / 2; ++pr) {
          uint32_t r[4];
          ldmatrixX4(r, bLane + (pr * 16 * L.kPitch + kk) * 2);
          bf[2 * pr][0] = r[0];
          bf[2 * pr][1] = r[1];
          bf[2 * pr + 1][0] = r[2];
          bf[2 * pr + 1][1] = r[3];
        }
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int j = 0; j < NW8; ++j) mma16816<T>(acc[mt][j], af[mt], bf[j]);
      }
    }
  }
  __syncthreads();  // every warp is done with A and W: the partial tile overwrites them
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int j = 0; j < NW8; ++j) {
      // c0, c1: row l / 4, columns 2 (l % 4) + {0, 1}; c2, c3: row l / 4 + 8.
      const int row = mt * 16 + lane / 4, col = warp * 8 * NW8 + j * 8 + 2 * (lane % 4);
      *reinterpret_cast<float2*>(Ps + row * L.pPitch + col) = make_float2(acc[mt][j][0], acc[mt][j][1]);
      *reinterpret_cast<float2*>(Ps + (row + 8) * L.pPitch + col) = make_float2(acc[mt][j][2], acc[mt][j][3]);
    }
  }
  clusterSync();  // partial tiles, ss and ls of every CTA visible cluster-wide

  if (convVec) {  // the conv states
    cpAsyncWaitAll();
    __syncthreads();
  }

  // ---- Reduction of this CTA's columns over the cluster, then the epilogue. One round of
  // distributed-shared-memory loads per item: every rank's partial of the item's columns and
  // every rank's (ss, ls) of the row. Rank r's partial is scaled by the row's (group's) 1/RMS
  // over r's local scale; group sums and the reduction run in rank order.
  const uint32_t pAddr = smemAddr(Ps), statAddr = smemAddr(statS);
  const int gpr = kGated ? CK / p.groups : CK;  // ranks per normalisation group (a power of two)
  const float width = static_cast<float>(gpr * sliceK);
  for (int item = tid; item < (batch << cprShift); item += kThreads) {
    const int m = item >> cprShift;
    const uint32_t src = pAddr + (m * L.pPitch + colLoc) * 4;
    float part[kDecodeGemmMaxCluster][4];
    float2 st[kDecodeGemmMaxCluster];
#pragma unroll
    for (int r = 0; r < kDecodeGemmMaxCluster; ++r) {
      if (r >= CK) break;
      const uint32_t at = mapRank(src, r);
      if (itemCols == 4) {
        const float4 v = ldCluster4(at);
        part[r][0] = v.x, part[r][1] = v.y, part[r][2] = v.z, part[r][3] = v.w;
      } else if (itemCols == 2) {
        const float2 v = ldCluster2(at);
        part[r][0] = v.x, part[r][1] = v.y;
      } else {
        part[r][0] = ldCluster(at);
      }
      if constexpr (!kPlain) st[r] = ldCluster2(mapRank(statAddr + m * 8, r));
    }
    float s[4] = {0.f, 0.f, 0.f, 0.f};
    float rs = 1.f;
#pragma unroll
    for (int r = 0; r < kDecodeGemmMaxCluster; ++r) {
      if (r >= CK) break;
      float f = 1.f;
      if constexpr (!kPlain) {
        if ((r & (gpr - 1)) == 0) {  // first rank of a group: the group's 1/RMS
          float total = 0.f;
#pragma unroll
          for (int q = 0; q < kDecodeGemmMaxCluster; ++q) {
            if (q >= r && q < r + gpr) total += st[q].x;
          }
          rs = rsqrtf(total / width + p.eps);
        }
        f = rs / st[r].y;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (j < itemCols) s[j] += f * part[r][j];
      }
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = nEpi + j;
      if (j >= itemCols || n >= N) break;
      const T rounded = fromFloat<T>(s[j] + toFloat(biasRaw[j]));
      const float rv = toFloat(rounded);
      const int64_t o = static_cast<int64_t>(m) * N + n;
      if (p.epilogue == GemvEpilogue::kResidualAdd) {
        p.residual[o] = (item == tid ? resPre[j] : p.residual[o]) + rv;
        continue;
      }
      static_cast<T*>(p.out)[o] = rounded;
      const int c = n - cv.row0;
      if (!convEpi || c < 0 || c >= cv.channels) continue;
      const int slot = slotS[m];
      float* xo = cv.out + static_cast<int64_t>(m) * cv.channels + c;
      if (slot < 0) {
        *xo = 0.f;
        continue;
      }
      if (convVec) {  // convStepFixed<4>'s arithmetic on the prefetched window
        const int cl = colLoc - own0 + j;
        const float4 stt = stateS[m * ownCols + cl], w = convWS[cl];
        const float win[4] = {stt.y, stt.z, stt.w, rv}, wk[4] = {w.x, w.y, w.z, w.w};
        float accC = convBias[j];
#pragma unroll
        for (int k = 0; k < 4; ++k) accC += win[k] * wk[k];
        *reinterpret_cast<float4*>(cv.state + (static_cast<int64_t>(slot) * cv.channels + c) * 4) =
            make_float4(win[0], win[1], win[2], win[3]);
        *xo = silu(accC);
      } else {
        const int Kc = cv.kernelSize;
        *xo = convStepChannel(cv.state + (static_cast<int64_t>(slot) * cv.channels + c) * Kc,
                              cv.weight + static_cast<int64_t>(c) * Kc, convBias[j], rv, Kc);
      }
    }
  }
  clusterSyncRelaxed();  // no CTA leaves (freeing its shared memory) while another still reads it
}

template <typename T, GemvPrologue PRO, int MT, int NW8>
__global__ void __launch_bounds__(kThreads, 2) decodeGemmKernel(const __grid_constant__ Args a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  __trap();  // clusters and PDL: the launcher refuses devices below sm_90
#else
  decodeGemmBody<T, PRO, MT, NW8>(a);
#endif
}

template <typename T, GemvPrologue PRO, int MT, int NW8>
void launchShaped(const Args& a, const DecodeGemmConfig& cfg, Stream stream) {
  auto* kernel = decodeGemmKernel<T, PRO, MT, NW8>;
  // Allow the device's whole opt-in shared memory once per instantiation and device (a limit
  // only: the occupancy follows each launch's own dynamic size).
  static DynamicSmemLimit limit;
  limit.ensure(kernel, currentDeviceInfo().smemOptin);
  launchKernelClustered(kernel, dim3(static_cast<unsigned>(cfg.clusters * cfg.clusterSize)), dim3(kThreads),
                        static_cast<size_t>(cfg.sharedBytes), static_cast<cudaStream_t>(stream),
                        static_cast<unsigned>(cfg.clusterSize), a);
}

}  // namespace dgemm

// One instantiation unit per element type and prologue: batch tiles 1, 2, 4 x tileN 64, 128, 256.
template <typename T, GemvPrologue PRO>
void launchDecodeGemmTyped(const dgemm::Args& a, const DecodeGemmConfig& cfg, Stream stream) {
  const int nw = cfg.tileN / 64;
  switch (cfg.mTiles * 8 + nw) {
    case 1 * 8 + 1: return dgemm::launchShaped<T, PRO, 1, 1>(a, cfg, stream);
    case 1 * 8 + 2: return dgemm::launchShaped<T, PRO, 1, 2>(a, cfg, stream);
    case 1 * 8 + 4: return dgemm::launchShaped<T, PRO, 1, 4>(a, cfg, stream);
    case 2 * 8 + 1: return dgemm::launchShaped<T, PRO, 2, 1>(a, cfg, stream);
    case 2 * 8 + 2: return dgemm::launchShaped<T, PRO, 2, 2>(a, cfg, stream);
    case 2 * 8 + 4: return dgemm::launchShaped<T, PRO, 2, 4>(a, cfg, stream);
    case 4 * 8 + 1: return dgemm::launchShaped<T, PRO, 4, 1>(a, cfg, stream);
    case 4 * 8 + 2: return dgemm::launchShaped<T, PRO, 4, 2>(a, cfg, stream);
    case 4 * 8 + 4: return dgemm::launchShaped<T, PRO, 4, 4>(a, cfg, stream);
    default: throw CudaError("launchDecodeGemm: no kernel for this tile configuration");
  }
}

}  // namespace mamba::kernels
