// The sequential-chunk SSD kernel of launchSsdPrefill (ssd_prefill.h), for calls with enough
// (sequence, head) pairs to fill the GPU: one block per (sequence b, head h, 64-lane tile p0)
// walks the sequence in chunks of kSeqChunk = 64 steps, in order, and keeps the running state S
// (64 lanes x N, fp32) in its warps' MMA accumulators, so nothing goes through global memory
// between chunks: no chunk states, no state pass, no CB tiles (the three-launch path writes and
// reads ~4 bytes x P x N per head and chunk of workspace). Per chunk, with cs the chunk's
// cumulative log decay (cs_t = A sum_{j <= t} dt_j) and S the state entering it:
//   M  = (C B^T) o exp(cs_t - cs_s) dt_s for s <= t, else 0            (64 x 64, inner n)
//   y  = M x + exp(cs_t) (C S^T) + D x                                   (64 steps x 64 lanes)
//   S <- exp(cs_end) S + (x o w)^T B,  w_t = exp(cs_end - cs_t) dt_t     (64 lanes x N, inner t)
// the algebra of the three-launch path with Q = 64 (its result does not depend on Q; the
// rounding points differ: S enters y as an operand of T per chunk of 64 instead of 256).
//
// Block: 8 warps; warp w has a row group rg = w % 4 and a half = w / 4. For CB, M and y it owns
// steps t in [16 rg, 16 rg + 16) and lanes [32 half, 32 half + 32) of y (the two halves of a row
// group both compute the row group's CB: cheaper than exchanging it); for S it owns lanes
// p in [16 rg, 16 rg + 16) and state columns [64 half, 64 half + 64) (8 accumulator tiles of
// 16 x 8; a compacted N multiplies only its own k-steps and tiles). Eight warps of at most 128
// registers let two blocks share an SM: the per-chunk chain of each warp is latency-bound
// (H200, 8 x 2048: 4 warps of 219 registers ran at 0.23 issued instructions per scheduler
// cycle). x, B and C of the next chunk are staged by cp.async while the current one is
// multiplied (two stages); the operand copy of S (type T) sits in shared memory for the y
// product of the next chunk. Two block barriers per chunk: after the stage has landed, and
// before S's operand copy is rewritten. M never leaves registers: the CB accumulators are
// masked, decayed and repacked as the A operand of M x (the accumulator and A fragment layouts
// line up, mma_sm80.cuh).
// Steps past a sequence's length are staged as zeros with dt = 0 (decay 1, weight 0), so they
// change nothing; their y rows are written as 0. The kGate form (a gated call, ssd_prefill.h)
// writes v * weight with v = y silu(z) instead of y, and each warp's per-row sum of v^2; its z
// is copied by each warp for its own epilogue rows, one chunk ahead. fp16/bf16 operands,
// N <= kSsdSeqMaxN, P and the state pitch multiples of 8 (ssdPrefillSequential checks).
#pragma once

#include "kernels/common/async_copy.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/common/mma_sm80.cuh"
#include "kernels/common/tensor_map.h"
#include "kernels/ssd_prefill/ssd_prefill.cuh"

namespace mamba::kernels {
namespace ssd {

constexpr int kSeqChunk = 64;
constexpr int kSeqLanes = 64;
constexpr int kSeqThreads = 256;
constexpr int kSeqLdX = kSeqLanes + 8;  // 144 bytes per x row: ldmatrix rows in distinct bank quads

__host__ __device__ inline int seqPadN(int N) { return (N + 15) / 16 * 16; }

// Phase trace (debug builds of bench/ssd_phase_trace.cu only, which define
// MAMBA_SSD_PHASE_TRACE): lane 0 of each warp of block (0, 0) records clock64() at the phase
// boundaries of the first kSeqTraceChunks chunks into gSeqPhaseTrace, (chunk, warp, phase).
// Phases: 0 loop top, 1 after barrier 1, 2 after issuing the next chunk's stage, 3 after cumsum
// and the decay arrays, 4 after C B^T and C S^T, 5 after M x, 6 after the wait for z (gated),
// 7 after the epilogue, 8 after the S update, 9 after barrier 2, 10 after S's operand copy.
// Compiled out otherwise.
constexpr int kSeqTracePhases = 11, kSeqTraceChunks = 64;
#ifdef MAMBA_SSD_PHASE_TRACE
__device__ long long* gSeqPhaseTrace = nullptr;
#define MAMBA_SEQ_STAMP(c, k)                                                                         \
  do {                                                                                                \
    if (blockIdx.x == 0 && blockIdx.y == 0 && (c) < kSeqTraceChunks && lane == 0 && gSeqPhaseTrace) { \
      gSeqPhaseTrace[((c) * (kSeqThreads / 32) + warp) * kSeqTracePhases + (k)] = clock64();          \
    }                                                                                                 \
  } while (0)
#else
#define MAMBA_SEQ_STAMP(c, k) \
  do {                        \
  } while (0)
#endif

// Elements per B, C and S row in shared memory, for every N (a compile-time pitch keeps every
// ldmatrix offset a constant): 136 = 17 16-byte units, odd, so ldmatrix is conflict-free.
constexpr int kSeqLdN = kSsdSeqMaxN + 8;

// Dynamic shared memory: two stages of {x (64 x kSeqLdX), B (64 x kSeqLdN), C (64 x kSeqLdN)}
// of T, the operand copy of S (64 x kSeqLdN of T), then fp32 cs[64], dt[64], w[64] (the state
// update's step weights) and per row group colW[64] (the off-diagonal column factors of M), and
// for a gated call the chunk's z tile (64 steps x 64 lanes of T, 16-byte units swizzled by the
// row: unit k of row t at k ^ (t % 8), so the epilogue's reads are conflict-free) and the
// block's 64 lanes of the gate weight (32 words); last the stages' two mbarriers. Every warp
// computes cs, dt and w (and both warps of a row group colW) from the same inputs in the same
// order, and writes them itself before reading them: the copies are bit-identical, so warps that
// share an array need no barrier (two barriers per chunk separate one chunk's reads from the next
// chunk's writes). Sharing them keeps a gated block within half an SM's shared memory (two
// blocks per SM).
constexpr int kSeqStageElems = kSeqChunk * kSeqLdX + 2 * kSeqChunk * kSeqLdN;
constexpr int kSeqStateOff = 2 * kSeqStageElems;  // elements
constexpr int kSeqZWords = kSeqChunk * kSeqLanes / 2;  // the z tile in 4-byte words
template <typename T>
constexpr int seqCsOffset() {
  return ((kSeqStateOff + kSeqLanes * kSeqLdN) * static_cast<int>(sizeof(T)) + 15) / 16 * 16;
}
template <typename T>
constexpr int seqZOffset() {
  return seqCsOffset<T>() + (3 + 4) * kSeqChunk * 4;
}
// The two stages' mbarriers (tile staging), 8-byte aligned, last.
template <typename T, bool kGate>
constexpr int seqBarrierOffset() {
  return (seqZOffset<T>() + (kGate ? (kSeqZWords + kSeqLanes / 2) * 4 : 0) + 7) / 8 * 8;
}
template <typename T, bool kGate>
constexpr int seqSharedBytes() {
  return seqBarrierOffset<T, kGate>() + 2 * 8;
}

// Stages chunk rows [0, rows) of x (xCols lanes from x), B and C (N states, read in 8-element
// vectors up to N rounded up to 8, which the pitch covers) into `stage`; the rest of the
// 64 x {64, N rounded up to 16} tiles becomes zero. Thread i copies row i / 4, every fourth
// vector from i % 4. One commit group.
template <typename T>
__device__ __forceinline__ void seqStageChunk(T* stage, const T* x, const T* bsrc, const T* csrc, int64_t ld, int rows,
                                              int xCols, int N) {
  static_assert(kSeqThreads == 4 * kSeqChunk, "four threads per staged row");
  const int r = threadIdx.x >> 2, v0 = threadIdx.x & 3;
  const bool realRow = r < rows;
  const int64_t off = r * ld;
  T* Xs = stage + r * kSeqLdX;
  T* Bs = stage + kSeqChunk * kSeqLdX + r * kSeqLdN;
  T* Cs = Bs + kSeqChunk * kSeqLdN;
#pragma unroll
  for (int k = 0; k < kSeqLanes / 32; ++k) {
    const int c = 8 * (v0 + 4 * k);
    const bool real = realRow && c < xCols;
    cpAsync16(smemAddr(Xs + c), real ? x + off + c : x, real ? 16 : 0);
  }
  const int nv = seqPadN(N) / 8;
#pragma unroll
  for (int k = 0; k < kSsdSeqMaxN / 32; ++k) {
    const int c = 8 * (v0 + 4 * k);
    if (c >= 8 * nv) break;
    const bool real = realRow && c < N;
    cpAsync16(smemAddr(Bs + c), real ? bsrc + off + c : x, real ? 16 : 0);
    cpAsync16(smemAddr(Cs + c), real ? csrc + off + c : x, real ? 16 : 0);
  }
  cpAsyncCommit();
}

// A shared-memory address as async_copy.cuh takes it.
using SmemAddr = decltype(smemAddr(nullptr));

// Box widths of the tensor-map copies: a box row lands as one dense shared-memory row, so the box
// spans the tile's padded pitch (the pad columns are never read).
constexpr int kSeqBoxX = kSeqLdX, kSeqBoxN = kSeqLdN;
constexpr int kSeqTensorBytes = (kSeqBoxX + 2 * kSeqBoxN) * kSeqChunk * 2;  // one chunk, 16-bit elements

// The tensor maps of the tile copies (kTile; host) over xbc's (batch x seqLen) rows of
// Di + 2 G Np elements: x boxes and B/C boxes.
inline void seqTensorMaps(const SsdPrefillParams& p, CUtensorMap& x, CUtensorMap& bc) {
  const uint64_t cols = static_cast<uint64_t>(p.nHeads) * p.headDim + 2ull * p.nGroups * statePitch(p);
  const uint64_t rows = static_cast<uint64_t>(p.batch) * p.seqLen;
  x = tensorMap2d16(p.xbc, cols, rows, cols * 2, kSeqBoxX, kSeqChunk);
  bc = tensorMap2d16(p.xbc, cols, rows, cols * 2, kSeqBoxN, kSeqChunk);
}

// The tensor-map stage of chunk rows [0, rows) as seqStageChunk leaves it: after the copies have
// landed (stage's mbarrier), zero what they brought from outside the tile - rows past `rows`
// (the next sequence's or nothing), x lanes past xCols (the next head's), states from N rounded
// up to 8 to N rounded up to 16 (the next block's columns) - before the block barrier. Nothing
// to do for full chunks of 64 lanes and N a multiple of 16 (the 130m and 2.7b shapes).
template <typename T>
__device__ __forceinline__ void seqFixTensorStage(T* stage, int rows, int xCols, int N) {
  const int n8 = (N + 7) / 8 * 8, nPad = seqPadN(N);
  if (rows == kSeqChunk && xCols == kSeqLanes && n8 == nPad) return;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  for (int r = threadIdx.x; r < kSeqChunk; r += kSeqThreads) {
    uint4* xr = reinterpret_cast<uint4*>(stage + r * kSeqLdX);
    uint4* br = reinterpret_cast<uint4*>(stage + kSeqChunk * kSeqLdX + r * kSeqLdN);
    uint4* cr = reinterpret_cast<uint4*>(stage + kSeqChunk * kSeqLdX + (kSeqChunk + r) * kSeqLdN);
    const bool past = r >= rows;
    for (int u = past ? 0 : xCols / 8; u < kSeqLanes / 8; ++u) xr[u] = zero;
    for (int u = past ? 0 : n8 / 8; u < nPad / 8; ++u) {
      br[u] = zero;
      cr[u] = zero;
    }
  }
}

// Ss[p][n] <- T(S) for the warp's 16 lanes (rows 16 rg + g (+8)) and its state columns
// n0 + 8j + 2q (+1) below nEnd (N rounded up to 16: the staged columns).
template <typename T, int kNT>
__device__ __forceinline__ void seqStoreStateOperand(T* Ss, const float (&s)[kNT][4], int rg, int n0, int nEnd) {
  const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  uint32_t* row0 = reinterpret_cast<uint32_t*>(Ss + (16 * rg + g) * kSeqLdN + n0);
  uint32_t* row1 = reinterpret_cast<uint32_t*>(Ss + (16 * rg + g + 8) * kSeqLdN + n0);
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
    if (n0 + 8 * j >= nEnd) break;
    row0[4 * j + q] = packPair<T>(s[j][0], s[j][1]);
    row1[4 * j + q] = packPair<T>(s[j][2], s[j][3]);
  }
}

// kGate: the gated output of ssd_prefill.h (p.gated, p.gateSumSq) instead of y. kTile (sm_90+):
// chunks staged by one tensor-map copy per tile on an mbarrier per stage (tmX: boxes of kSeqBoxX
// x 64 over xbc's rows; tmBC: kSeqBoxN x 64), else by cp.async (seqStageChunk; maps unused).
// H200, 130m layer at 8 x 16384 (phase trace, bench/results/h200_2026-12-01/session16): a chunk
// is 14152 cycles with cp.async staging (issuing the 10 copies per thread ~1400 of them), 13967
// with one bulk copy per row (tried: the six issuing warps ~2400 each), 12379 with tile copies
// (issue ~160-390); the walk 2.109 / 2.092 / 1.845 ms.
template <typename T, typename TState, bool kGate, bool kTile>
__global__ void __launch_bounds__(kSeqThreads, 2)
    ssdSequentialKernel(SsdPrefillParams p, const __grid_constant__ CUtensorMap tmX,
                        const __grid_constant__ CUtensorMap tmBC) {
  pdlEnter();
  extern __shared__ __align__(128) unsigned char smem[];
  // Warp roles: rg = warp % 4 picks the 16 steps t (CB, M, y) and the 16 lanes p (S) it owns;
  // half = warp / 4 the 32 lanes of y (p0y) and the 64 state columns of S (n0) it owns.
  constexpr int kNT = kSsdSeqMaxN / 16;  // accumulator tiles of S per warp (8 columns each)
  const int L = p.seqLen, H = p.nHeads, P = p.headDim, N = p.stateSize, G = p.nGroups;
  const int Np = statePitch(p), Di = H * P, CD = Di + 2 * G * Np;
  const int h = blockIdx.x % H, p0 = (blockIdx.x / H) * kSeqLanes, b = blockIdx.y, grp = h / (H / G);
  const int nPad = seqPadN(N), nK = nPad / 16;
  constexpr int ldn = kSeqLdN;
  T* stages = reinterpret_cast<T*>(smem);
  T* Ss = stages + kSeqStateOff;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int rg = warp & 3, half = warp >> 2, p0y = 32 * half, n0 = (kSsdSeqMaxN / 2) * half;
  float* csW = reinterpret_cast<float*>(smem + seqCsOffset<T>());  // shared by all warps (see above)
  float* dtW = csW + kSeqChunk;
  float* wW = dtW + kSeqChunk;
  float* colW = wW + kSeqChunk * (1 + rg);  // shared by the row group's two warps
  uint32_t* zS = reinterpret_cast<uint32_t*>(smem + seqZOffset<T>());  // the z tile (gated calls)
  const int len = min(max(p.lengths[b], 0), L), slot = p.slots[b];
  const float A = p.A[h], D = p.D[h];
  const int xCols = min(kSeqLanes, P - p0);

  // S, rows p0 + 16 rg + g (+8), columns n0 + 8j + 2q (+1): the pool's state or zero.
  float s[kNT][4];
  const int pr0 = p0 + 16 * rg + g, pr1 = pr0 + 8;
  TState* pool = slot >= 0 ? static_cast<TState*>(p.state) + (static_cast<int64_t>(slot) * H + h) * P * N : nullptr;
  const bool fromPool = pool != nullptr && p.cont[b] != 0;
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int n = n0 + 8 * j + 2 * q + (e & 1), pr = e < 2 ? pr0 : pr1;
      s[j][e] = fromPool && n < N && pr < P ? toFloat(pool[static_cast<int64_t>(pr) * N + n]) : 0.f;
    }
  }
  seqStoreStateOperand<T>(Ss, s, rg, n0, nPad);

  const int64_t rowBase = static_cast<int64_t>(b) * L;
  const T* xbc = static_cast<const T*>(p.xbc) + rowBase * CD;
  const float* dtSeq = p.dt + rowBase * H + h;
  // This block's output columns: y (fp32) or the gated output (T), and the gate's z, weight
  // and sum-of-squares part of the warp's 32 lanes.
  const int t0 = 16 * rg + g, t1 = t0 + 8;  // this thread's rows of CB, M and y
  float* y = kGate ? nullptr : p.y + rowBase * Di + h * P + p0;
  // (The gate's pointers are rebuilt from p where used: kept live across the loop they spill.)
  const int gateCol = h * P + p0 + p0y, gateParts = ssdGateParts(H, P);
  const int part = (h * ((P + kSeqLanes - 1) / kSeqLanes) + p0 / kSeqLanes) * 2 + half;
  auto gateRow = [&](int t) { return rowBase + t; };  // row of step t in gated, z and gateSumSq
  // The block's gate weight pairs (lanes 2i, 2i + 1 in word i; read after the loop's first barrier).
  uint32_t* gwS = zS + kSeqZWords;
  if (kGate && threadIdx.x < kSeqLanes / 2) {
    gwS[threadIdx.x] = 2 * threadIdx.x < xCols
                           ? *reinterpret_cast<const uint32_t*>(static_cast<const T*>(p.gateWeight) + h * P + p0 + 2 * threadIdx.x)
                           : 0u;
  }
  // Chunk c's z at the warp's own epilogue rows (16 rg ..) and lanes (p0y ..), real steps and
  // lanes only (the rest is never read), into zS: two 16-byte units per thread, one commit group.
  // Only the warp reads them, so its own cp.async wait and __syncwarp order them: the copy of
  // chunk c + 1 is issued right after chunk c's epilogue and waited for in chunk c + 1's.
  auto issueZ = [&](int c) {
    const int cBase = c * kSeqChunk, clen = min(kSeqChunk, len - cBase);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int u = lane + 32 * i, t = 16 * rg + u / 4, k = 4 * half + u % 4;
      if (t >= clen || 8 * k >= xCols) continue;
      const T* src = static_cast<const T*>(p.gateZ) + gateRow(cBase + t) * p.gateZStride + h * P + p0 + 8 * k;
      cpAsync16(smemAddr(zS + t * (kSeqLanes / 2) + 4 * (k ^ (t % 8))), src, 16);
    }
    cpAsyncCommit();
  };
  // z at lanes (2w, 2w + 1) of step t of the tile.
  auto zPair = [&](int t, int w) { return zS[t * (kSeqLanes / 2) + 4 * ((w / 4) ^ (t % 8)) + w % 4]; };
  const int chunks = (len + kSeqChunk - 1) / kSeqChunk;
  auto stage = [&](int c) { return stages + (c & 1) * kSeqStageElems; };
  // The stages' mbarriers (kTile): the k-th use of stage s (chunk c = 2k + s) completes phase k.
  const auto stageBar = [&](int c) { return smemAddr(smem + seqBarrierOffset<T, kGate>() + 8 * (c & 1)); };
  auto issue = [&](int c) {
    if constexpr (kTile) {
      if (threadIdx.x == 0) {
        fenceProxyAsync();  // the last fix-up's stores to this stage come before the copies
        const SmemAddr bar = stageBar(c);
        mbarrierArriveExpectTx(bar, kSeqTensorBytes);
        const int row = static_cast<int>(rowBase) + c * kSeqChunk;
        T* st = stage(c);
        tensorTileToShared(smemAddr(st), &tmX, h * P + p0, row, bar);
        tensorTileToShared(smemAddr(st + kSeqChunk * kSeqLdX), &tmBC, Di + grp * Np, row, bar);
        tensorTileToShared(smemAddr(st + kSeqChunk * kSeqLdX + kSeqChunk * kSeqLdN), &tmBC, Di + (G + grp) * Np, row,
                           bar);
      }
    } else {
      const T* base = xbc + static_cast<int64_t>(c) * kSeqChunk * CD;
      seqStageChunk<T>(stage(c), base + h * P + p0, base + Di + grp * Np, base + Di + (G + grp) * Np, CD,
                       min(kSeqChunk, len - c * kSeqChunk), xCols, N);
    }
  };
  if constexpr (kTile) {
    if (threadIdx.x == 0) {
      mbarrierInit(stageBar(0), 1);
      mbarrierInit(stageBar(1), 1);
      mbarrierInitFence();
    }
    __syncthreads();  // the barriers are initialised before any thread uses them
  }
  // dt of steps c * 64 + lane and + 32 (0 past the length), one chunk ahead.
  float dt0 = 0.f, dt1 = 0.f;
  auto loadDt = [&](int c) {
    const int t = c * kSeqChunk + lane;
    dt0 = t < len ? dtSeq[static_cast<int64_t>(t) * H] : 0.f;
    dt1 = t + 32 < len ? dtSeq[static_cast<int64_t>(t + 32) * H] : 0.f;
  };
  if (chunks > 0) {
    issue(0);
    if constexpr (kGate) issueZ(0);
    loadDt(0);
  }
  const int mr = lane & 7, mLo = (lane >> 3) & 1, mHi = lane >> 4;  // ldmatrix: row in matrix, matrix bits
  for (int c = 0; c < chunks; ++c) {
    MAMBA_SEQ_STAMP(c, 0);
    // Groups in flight: the stage of chunk c, then (gated) chunk c's z, issued after it. Tile
    // staging: the stage is on its mbarrier, and z (the only cp.async) is waited for in the epilogue.
    if constexpr (kTile) {
      mbarrierWait(stageBar(c), static_cast<uint32_t>((c >> 1) & 1));
      seqFixTensorStage<T>(stage(c), min(kSeqChunk, len - c * kSeqChunk), xCols, N);
    } else if constexpr (kGate) {
      cpAsyncWaitGroup<1>();
    } else {
      cpAsyncWaitAll();
    }
    __syncthreads();  // the stage of chunk c and S's operand copy are in place
    MAMBA_SEQ_STAMP(c, 1);
    if (c + 1 < chunks) issue(c + 1);
    MAMBA_SEQ_STAMP(c, 2);
    const int cBase = c * kSeqChunk, clen = min(kSeqChunk, len - cBase);
    // Cumulative log decay of the chunk (every warp computes it: no block barrier).
    float c0 = dt0 * A, c1 = dt1 * A;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float u0 = __shfl_up_sync(0xffffffffu, c0, o), u1 = __shfl_up_sync(0xffffffffu, c1, o);
      if (lane >= o) {
        c0 += u0;
        c1 += u1;
      }
    }
    c1 += __shfl_sync(0xffffffffu, c0, 31);
    const float csEnd = __shfl_sync(0xffffffffu, c1, 31);
    // Off-diagonal blocks of M (s < ref = 16 rg <= t) factor the decay through step ref:
    // exp(cs_t - cs_s) dt_s = exp(cs_t - cs_ref) colW[s], both factors <= 1 (cs falls), so no
    // overflow and no exponential per element. cs_ref is lane ref % 32's c0 or c1.
    const int ref = 16 * rg;
    const float csRef = __shfl_sync(0xffffffffu, ref < 32 ? c0 : c1, ref % 32);
    csW[lane] = c0;
    csW[lane + 32] = c1;
    dtW[lane] = dt0;
    dtW[lane + 32] = dt1;
    wW[lane] = __expf(fminf(csEnd - c0, 0.f)) * dt0;
    wW[lane + 32] = __expf(fminf(csEnd - c1, 0.f)) * dt1;
    colW[lane] = __expf(fminf(csRef - c0, 0.f)) * dt0;
    colW[lane + 32] = __expf(fminf(csRef - c1, 0.f)) * dt1;
    __syncwarp();
    if (c + 1 < chunks) loadDt(c + 1);
    MAMBA_SEQ_STAMP(c, 3);
    const T* Xs = stage(c);
    const T* Bs = Xs + kSeqChunk * kSeqLdX;
    const T* Cs = Bs + kSeqChunk * ldn;

    // CB (rows t0/t1, causal s tiles j < 2 rg + 2) and C S^T (the warp's 32 lanes), inner n.
    float cb[8][4], ya[4][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) cb[j][e] = 0.f;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) ya[j][e] = 0.f;
    }
#pragma unroll
    for (int kk = 0; kk < kSsdSeqMaxN / 16; ++kk) {
      if (kk >= nK) break;
      uint32_t a[4];
      ldmatrixX4(a, smemAddr(Cs + (16 * rg + mLo * 8 + mr) * ldn + 16 * kk + mHi * 8));
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        if (jp > rg) break;
        uint32_t r[4];
        ldmatrixX4(r, smemAddr(Bs + (16 * jp + mHi * 8 + mr) * ldn + 16 * kk + mLo * 8));
        mma16816<T>(cb[2 * jp], a, {r[0], r[1]});
        mma16816<T>(cb[2 * jp + 1], a, {r[2], r[3]});
      }
#pragma unroll
      for (int jp = 0; jp < 2; ++jp) {
        uint32_t r[4];
        ldmatrixX4(r, smemAddr(Ss + (p0y + 16 * jp + mHi * 8 + mr) * ldn + 16 * kk + mLo * 8));
        mma16816<T>(ya[2 * jp], a, {r[0], r[1]});
        mma16816<T>(ya[2 * jp + 1], a, {r[2], r[3]});
      }
    }
    MAMBA_SEQ_STAMP(c, 4);
    const float cs0 = csW[t0], cs1 = csW[t1];
    const float e0 = __expf(cs0), e1 = __expf(cs1);  // <= 1: cs falls
    const float r0 = __expf(fminf(cs0 - csRef, 0.f)), r1 = __expf(fminf(cs1 - csRef, 0.f));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      ya[j][0] *= e0;
      ya[j][1] *= e0;
      ya[j][2] *= e1;
      ya[j][3] *= e1;
    }
    // y += M x over the causal k-steps s in [0, 16 rg + 16); M built in registers as A fragments.
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      if (ks > rg) break;
      uint32_t a[4];
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const int j = 2 * ks + hf, sc = 8 * j + 2 * q;
        if (ks < rg) {  // s < ref <= t: causal
          const float wA = colW[sc], wB = colW[sc + 1];
          a[2 * hf] = packPair<T>(cb[j][0] * r0 * wA, cb[j][1] * r0 * wB);
          a[2 * hf + 1] = packPair<T>(cb[j][2] * r1 * wA, cb[j][3] * r1 * wB);
        } else {  // the diagonal block
          const float csA = csW[sc], csB = csW[sc + 1], dA = dtW[sc], dB = dtW[sc + 1];
          const float m00 = sc <= t0 ? cb[j][0] * __expf(fminf(cs0 - csA, 0.f)) * dA : 0.f;
          const float m01 = sc + 1 <= t0 ? cb[j][1] * __expf(fminf(cs0 - csB, 0.f)) * dB : 0.f;
          const float m10 = sc <= t1 ? cb[j][2] * __expf(fminf(cs1 - csA, 0.f)) * dA : 0.f;
          const float m11 = sc + 1 <= t1 ? cb[j][3] * __expf(fminf(cs1 - csB, 0.f)) * dB : 0.f;
          a[2 * hf] = packPair<T>(m00, m01);
          a[2 * hf + 1] = packPair<T>(m10, m11);
        }
      }
#pragma unroll
      for (int jp = 0; jp < 2; ++jp) {
        uint32_t r[4];
        ldmatrixX4Trans(r, smemAddr(Xs + (16 * ks + mLo * 8 + mr) * kSeqLdX + p0y + 16 * jp + mHi * 8));
        mma16816<T>(ya[2 * jp], a, {r[0], r[1]});
        mma16816<T>(ya[2 * jp + 1], a, {r[2], r[3]});
      }
    }
    MAMBA_SEQ_STAMP(c, 5);
    // y rows t0, t1 of the chunk, lanes p0y ..: + D x; steps past the length are 0, rows past
    // seqLen not stored. Gated: v = y silu(z), stored as v * weight, and the rows' sums of v^2
    // over the warp's 32 lanes (a quad's four threads hold a row's 32 lanes).
    {
      const int rows = min(kSeqChunk, L - cBase);
      if constexpr (kGate) {  // chunk c's z (then only the stage of chunk c + 1 may be in flight)
        if (kTile || c + 1 >= chunks) {
          cpAsyncWaitAll();
        } else {
          cpAsyncWaitGroup<1>();
        }
        __syncwarp();
      }
      MAMBA_SEQ_STAMP(c, 6);
      const uint32_t* x0 = reinterpret_cast<const uint32_t*>(Xs + t0 * kSeqLdX + p0y);
      const uint32_t* x1 = reinterpret_cast<const uint32_t*>(Xs + t1 * kSeqLdX + p0y);
      const bool store0 = t0 < rows, store1 = t1 < rows, real0 = t0 < clen, real1 = t1 < clen;
      float ss0 = 0.f, ss1 = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int pc = 8 * j + 2 * q;
        const float2 xa = unpackPair<T>(x0[4 * j + q]), xb = unpackPair<T>(x1[4 * j + q]);
        float2 v0 = real0 ? make_float2(ya[j][0] + D * xa.x, ya[j][1] + D * xa.y) : make_float2(0.f, 0.f);
        float2 v1 = real1 ? make_float2(ya[j][2] + D * xb.x, ya[j][3] + D * xb.y) : make_float2(0.f, 0.f);
        if constexpr (kGate) {  // z words of rows past the length or lanes past P were not copied
          const bool lane = p0y + pc < xCols;
          const float2 za = real0 && lane ? unpackPair<T>(zPair(t0, (p0y + pc) / 2)) : make_float2(0.f, 0.f);
          const float2 zb = real1 && lane ? unpackPair<T>(zPair(t1, (p0y + pc) / 2)) : make_float2(0.f, 0.f);
          const float2 wv = unpackPair<T>(gwS[(p0y + pc) / 2]);
          v0 = make_float2(v0.x * siluFast(za.x), v0.y * siluFast(za.y));
          v1 = make_float2(v1.x * siluFast(zb.x), v1.y * siluFast(zb.y));
          ss0 += v0.x * v0.x + v0.y * v0.y;
          ss1 += v1.x * v1.x + v1.y * v1.y;
          T* g0 = static_cast<T*>(p.gated) + gateRow(cBase + t0) * Di + gateCol;
          T* g1 = static_cast<T*>(p.gated) + gateRow(cBase + t1) * Di + gateCol;
          if (store0 && p0y + pc < xCols) *reinterpret_cast<uint32_t*>(g0 + pc) = packPair<T>(v0.x * wv.x, v0.y * wv.y);
          if (store1 && p0y + pc < xCols) *reinterpret_cast<uint32_t*>(g1 + pc) = packPair<T>(v1.x * wv.x, v1.y * wv.y);
        } else {
          float* y0 = y + static_cast<int64_t>(cBase + t0) * Di + p0y;
          float* y1 = y + static_cast<int64_t>(cBase + t1) * Di + p0y;
          if (store0 && p0y + pc < xCols) *reinterpret_cast<float2*>(y0 + pc) = v0;
          if (store1 && p0y + pc < xCols) *reinterpret_cast<float2*>(y1 + pc) = v1;
        }
      }
      if constexpr (kGate) {
        ss0 += __shfl_xor_sync(0xffffffffu, ss0, 1);
        ss1 += __shfl_xor_sync(0xffffffffu, ss1, 1);
        ss0 += __shfl_xor_sync(0xffffffffu, ss0, 2);
        ss1 += __shfl_xor_sync(0xffffffffu, ss1, 2);
        if (q == 0 && store0) p.gateSumSq[gateRow(cBase + t0) * gateParts + part] = ss0;
        if (q == 0 && store1) p.gateSumSq[gateRow(cBase + t1) * gateParts + part] = ss1;
        __syncwarp();  // the warp has read this chunk's z: the next one may overwrite it
        if (c + 1 < chunks) issueZ(c + 1);
      }
    }
    MAMBA_SEQ_STAMP(c, 7);
    // S (lanes 16 rg .., columns n0 ..) <- exp(cs_end) S + (x o w)^T B over the k-steps that
    // hold real steps.
    const float decay = __expf(csEnd);
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] *= decay;
    }
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      if (16 * ks >= clen) break;
      uint32_t a[4];
      ldmatrixX4Trans(a, smemAddr(Xs + (16 * ks + mHi * 8 + mr) * kSeqLdX + 16 * rg + mLo * 8));
      // a0, a1 hold steps 16ks + 2q (+1); a2, a3 steps 16ks + 8 + 2q (+1).
      const int ta = 16 * ks + 2 * q, tb = ta + 8;
      const float wa0 = wW[ta], wa1 = wW[ta + 1], wb0 = wW[tb], wb1 = wW[tb + 1];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 v = unpackPair<T>(a[i]);
        a[i] = i < 2 ? packPair<T>(v.x * wa0, v.y * wa1) : packPair<T>(v.x * wb0, v.y * wb1);
      }
#pragma unroll
      for (int jn = 0; jn < kNT / 2; ++jn) {
        if (n0 + 16 * jn >= nPad) break;
        uint32_t r[4];
        ldmatrixX4Trans(r, smemAddr(Bs + (16 * ks + mLo * 8 + mr) * ldn + n0 + 16 * jn + mHi * 8));
        mma16816<T>(s[2 * jn], a, {r[0], r[1]});
        mma16816<T>(s[2 * jn + 1], a, {r[2], r[3]});
      }
    }
    MAMBA_SEQ_STAMP(c, 8);
    __syncthreads();  // every warp has read S's operand copy (C S^T) and the stage
    MAMBA_SEQ_STAMP(c, 9);
    seqStoreStateOperand<T>(Ss, s, rg, n0, nPad);
    MAMBA_SEQ_STAMP(c, 10);
  }

  if (pool != nullptr) {
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int n = n0 + 8 * j + 2 * q + (e & 1), pr = e < 2 ? pr0 : pr1;
        if (n < N && pr < P) pool[static_cast<int64_t>(pr) * N + n] = fromFloat<TState>(s[j][e]);
      }
    }
  }
  // Rows past the last chunk with a real step (padding of shorter sequences) are 0.
  for (int i = chunks * kSeqChunk * kSeqLanes + threadIdx.x; i < L * kSeqLanes; i += kSeqThreads) {
    const int t = i / kSeqLanes, pc = i % kSeqLanes;
    if (pc >= xCols) continue;
    if constexpr (kGate) {
      static_cast<T*>(p.gated)[gateRow(t) * Di + h * P + p0 + pc] = fromFloat<T>(0.f);
    } else {
      y[static_cast<int64_t>(t) * Di + pc] = 0.f;
    }
  }
  if constexpr (kGate) {  // the four warps of each half: their part of those rows
    for (int t = chunks * kSeqChunk + rg * 32 + lane; t < L; t += 4 * 32) {
      p.gateSumSq[gateRow(t) * gateParts + part] = 0.f;
    }
  }
}

}  // namespace ssd
}  // namespace mamba::kernels
