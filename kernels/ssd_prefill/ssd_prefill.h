// The chunked SSD scan of prefill (spec §4.4) in three fused launches, reading the conv output
// directly and keeping each sequence's state in the SSM-state pool.
//
// For sequence b (slot s = slots[b], length len = lengths[b] <= seqLen), head h (group
// g = h / (H/G)), lane p < P and state n < N, with x, B, C read from xbc and
// S_init = (s >= 0 && cont[b] != 0) ? state[s, h] : 0, the result is the recurrence of spec
// §4.2 step 5 over the first len steps:
//   S_t = exp(dt[b,t,h] A[h]) S_{t-1} + dt[b,t,h] x[t,h,:] B[t,g,:]^T,   S_{-1} = S_init
//   y[b, t, h*P + p] = C[t,g,:] . S_t[p,:] + D[h] x[t,h,p]       (t < len; 0 for t >= len)
//   state[s, h] <- S_{len-1}                                       (s >= 0 only)
// computed per chunk of Q steps (any Q in 1..256; the result does not depend on Q):
//   1. ssdChunkPrepare: per (b, chunk, head) the in-chunk cumulative log decay cs and the
//      chunk-local end state sLoc = sum_t exp(cs_end - cs_t) dt_t x_t B_t^T; per (b, chunk,
//      group) the causal CB = C B^T tiles.
//   2. ssdStatePass: S_in[0] = S_init, S_in[c+1] = exp(cs_end[c]) S_in[c] + sLoc[c], sequential
//      over chunks; the final state goes to the pool. When the call has one chunk (seqLen <= Q,
//      every short prompt), step 1 does this itself and the pass is not launched.
//   3. ssdChunkScan: y = (CB o exp(cs_t - cs_s) dt_s, causal) x + exp(cs_t) C S_in^T + D x.
// Calls with enough (sequence, head) pairs to fill the GPU run all three as one sequential-chunk
// launch instead (ssd_sequential.cuh: one block per sequence and head walks its chunks of 64
// steps in order with the state in registers; no workspace; see ssdPrefillSequential).
// Small calls of at most kSsdSingleTileMaxLen steps in one chunk (a short prompt, few
// sequences: see ssdPrefillSingleTile) run all three in one clustered launch instead
// (ssd_single_tile.cuh), bit-identical and without workspace. At the mamba2-130m shape, 1 x 64
// tokens (H200, Nsight Compute, cold caches) it takes 18.0 us against prepare + scan 9.4 + 12.3,
// and is one graph node less per layer.
// The products run on tensor cores with operands of `elem` (the type of xbc) and fp32
// accumulation: fp16/bf16 operands for fp16/bf16, and for fp32 the 3xTF32 split (hi*hi +
// hi*lo + lo*hi, about fp32 accuracy). Cumulative decays, dt, CB and local states are fp32;
// the chunk-entry states S_in are stored in `elem` (they are only an MMA operand). The pool
// state may be fp32 or bf16; the scan itself always carries it in fp32.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

constexpr int kSsdMaxChunk = 256;
constexpr int kSsdSingleTileMaxLen = 64;
constexpr int kSsdSeqMaxN = 128;  // the sequential-chunk kernel's largest state size

// Which calls take the sequential-chunk kernel: kAuto decides by shape (ssdPrefillSequential),
// kOff never, kForce whenever the kernel supports the call (the tests compare the forms).
enum class SsdSequential { kAuto, kOff, kForce };

// How the sequential-chunk kernel stages a chunk's x, B and C: kAuto by device (kTensor on
// sm_90+ unless MAMBA_SSD_STAGE_COPY=1 asks for kCpAsync; kCpAsync below), kCpAsync 16-byte
// cp.async per thread, kTensor one 2-D tensor-map copy per tile on an mbarrier (sm_90+ only; the
// CPU kernel emulator runs it too).
enum class SsdStageCopy { kAuto, kCpAsync, kTensor };

struct SsdPrefillParams {
  int batch = 0, seqLen = 0, nHeads = 0, headDim = 0, nGroups = 1, stateSize = 0;
  int chunkSize = 0;                 // Q in 1..kSsdMaxChunk
  // Columns per group's B (and C) block in xbc, and per state row in chunkInit: Np >= N, the
  // extra Np - N columns of each xbc block being zero (0 = N). A pitch that is a multiple of
  // 8 lets unaligned N (a compacted N = 115) stage its operands with 16-byte loads.
  int statePitch = 0;
  void* state = nullptr;             // (numSlots, H, P, N) of stateElem: initial state in, final state out
  ElemType stateElem = ElemType::kF32;  // kF32 or kBF16 (rounded to nearest on store)
  const int32_t* slots = nullptr;    // (batch); < 0: zero initial state, final state not written
  const int32_t* cont = nullptr;     // (batch); 0: zero initial state (fresh sequence)
  const int32_t* lengths = nullptr;  // (batch) real tokens per sequence, <= seqLen
  const void* xbc = nullptr;         // (batch, seqLen, Di + 2G Np) of elem: x [0, Di), B [Di, Di+G Np), C [Di+G Np, Di+2G Np)
  ElemType elem = ElemType::kF32;
  const float* dt = nullptr;         // (batch, seqLen, H) fp32, softplus and clamp applied
  const float* A = nullptr;          // (H), negative
  const float* D = nullptr;          // (H)
  float* y = nullptr;                // (batch, seqLen, H*P) fp32; rows t >= lengths[b] are 0
  // Workspace, sized by ssdPrefillWorkspace (nc = ceil(seqLen / Q)); no initialisation needed.
  float* chunkStates = nullptr;      // (batch, nc, H, P, N) fp32: sLoc
  void* chunkInit = nullptr;         // (batch, nc, H, P, Np) of elem: S_in (columns >= N unspecified)
  float* chunkLogDecay = nullptr;    // (batch, H, nc): cs_end
  float* cb = nullptr;               // (batch, nc, G, Q, Q) fp32
  // false: short calls also take the three-launch path (the tests compare the two bit for bit).
  bool allowSingleTile = true;
  SsdSequential sequential = SsdSequential::kAuto;
  SsdStageCopy stageCopy = SsdStageCopy::kAuto;
  // Gated output (sequential-chunk calls only; launchSsdPrefill throws for any other): with
  // `gated` set the kernel writes, instead of y, the row-local part of the gated RMSNorm of spec
  // §4.2 step 6, with v = y * silu(z) in fp32 (y as above):
  //   gated[b, t, c] = round(v[c] * gateWeight[c])                        (0 for t >= lengths[b])
  //   gateSumSq[b * seqLen + t, k] = sum of v[c]^2 over the 32 channels c of part k
  // part k = (h * ceil(P / 64) + tile) * 2 + half covers the channels h*P + 64 tile + 32 half + [0, 32)
  // below (h + 1) * P (ssdGateParts(H, P) parts per row, disjoint, covering all H*P). The
  // norm's factor rsqrt(mean over the group's parts + eps) is left to the consumer, which may
  // apply it after a linear map (mamba2_prefill_cuda.cc: after out_proj, in the next add + RMSNorm).
  const void* gateZ = nullptr;       // rows (batch * seqLen) of gateZStride elem: z of channel c at column c
  int64_t gateZStride = 0;
  const void* gateWeight = nullptr;  // (H*P) of elem
  void* gated = nullptr;             // (batch, seqLen, H*P) of elem, or nullptr: write y
  float* gateSumSq = nullptr;        // (batch * seqLen, ssdGateParts(H, P)) fp32
};

// Sum-of-squares parts per row of a gated SSD call: two 32-channel halves per 64-lane tile.
constexpr int ssdGateParts(int nHeads, int headDim) { return nHeads * ((headDim + 63) / 64) * 2; }

// Whether p runs as the single-tile launch: one chunk of at most kSsdSingleTileMaxLen steps,
// N <= 384 (clusters of at most 8 blocks), at most one block per SM, on an sm_90+ device.
bool ssdPrefillSingleTile(const SsdPrefillParams& p);

// Whether p runs as the sequential-chunk launch: fp16/bf16 operands, N <= kSsdSeqMaxN, P and
// the state pitch multiples of 8, a 16-byte aligned xbc (and for a gated call 16-byte aligned z
// rows: z and its stride in elements a multiple of 8; 4-byte aligned weight and output), sm_80+,
// no single-tile launch; under
// kAuto also a long enough call with enough blocks (see the measurements in ssd_prefill.cu).
bool ssdPrefillSequential(const SsdPrefillParams& p);

// Element counts of the workspace buffers for p's shapes (none for a single-tile or a
// sequential-chunk call).
struct SsdPrefillWorkspace {
  int64_t chunkStates = 0, chunkInit = 0, chunkLogDecay = 0, cb = 0;
};
SsdPrefillWorkspace ssdPrefillWorkspace(const SsdPrefillParams& p);

void launchSsdPrefill(const SsdPrefillParams& p, Stream stream);

}  // namespace mamba::kernels
