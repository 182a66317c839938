// Decode products at batch 1..64 on tensor cores (sm_90), with the prologues and epilogues of
// the small-batch GEMV (kernels/gemv, whose GemvParams this family takes unchanged), so a
// decode layer at these batches is three kernels of ours too: in_proj with the RMSNorm in front
// and the conv step behind, the SSM step, out_proj with the gated norm in front and the fp32
// residual add behind.
//
//   out[b, n] = round(f[b] * sum_k v[b, k] * W[n, k] + bias[n]) (fp32 accumulation), where
//     kNone:         v = x, f = 1
//     kRmsNorm:      v = normInput * normWeight,    f = 1 / sqrt(mean_k(normInput[b]^2) + eps)
//     kGatedRmsNorm: v = y * silu(z) * normWeight,  f = 1 / sqrt(mean(group's (y silu z)^2) + eps),
//                    one factor per group of K/groups channels
//   then the GemvEpilogue (kStore, kStoreConvStep: exactly convStepChannel on the rounded
//   rows [row0, row0 + channels), kResidualAdd: residual += the rounded value).
// The RMS factors commute with the product, so the normalised inputs are never formed at full
// width; the results match the unfused ops (norm rounded to the dtype, then the product) within
// the dtype's rounding, not bit for bit.
//
// Design (per launch, see decodeGemmConfig):
// * Tensor cores: mma.sync m16n8k16 (bf16/fp16 in, fp32 accumulate). The batch rows are the M
//   dimension (padded to 16, 32 or 64: mTiles), the weight rows N, the inputs K. Operands come
//   from shared memory through ldmatrix; A/W rows are (sliceK + 8) elements apart, an odd number
//   of 16-byte units, so each 8-row ldmatrix phase touches all 32 banks once.
// * Split K over a thread-block cluster of `clusterSize` CTAs (1, 2, 4 or 8; portable sizes).
//   The cluster owns tileN = 64 * {1, 2, 4} weight rows (8 warps x 8/16/32 rows); CTA r of the
//   cluster multiplies the K slice [r * sliceK, (r + 1) * sliceK), sliceK = K / clusterSize <= 256.
//   Each CTA therefore reads only its slice of the activations (B x sliceK): one activation
//   re-read per cluster, not per CTA, and its W tile (tileN x sliceK) sits in shared memory whole.
// * The weights are constant: each CTA issues cp.async (16-byte, zero-fill past the last row)
//   for its whole W tile and the conv weights, and plain loads of the norm weight and the
//   biases, BEFORE pdlEnter (griddepcontrol.wait), so under programmatic dependent launch the
//   weight read overlaps the previous kernel. Activations, slots, states and the residual are
//   read only after it (the residual and the slots right after it, ahead of their use).
// * The prologue computes a local scale per batch row over the CTA's slice (so fp16 operands
//   stay in range whatever the residual's magnitude), rounds v * localScale to the dtype into
//   the A tile (the prologue kind is a template parameter), and records the slice's sum of
//   squares. After the MMAs every CTA writes its fp32 partial tile (B x tileN) to shared
//   memory (aliasing the dead A/W tiles), the cluster syncs, and CTA r reduces the columns
//   [r * tileN / clusterSize, ...): each item (batch row, 1/2/4 columns: the narrowest that
//   keeps all threads busy) loads every rank's partial and every rank's (sum of squares, local
//   scale) of its row in one round of distributed-shared-memory loads, and sums the partials in
//   rank order, each times rsqrt(group's sum of squares / width + eps) / that rank's local
//   scale. Fixed orders everywhere and no atomics: bit-identical results run to run.
// * The conv step's states of the CTA's own columns are prefetched with cp.async into shared
//   memory right after the prologue (kernelSize 4 with 16-byte aligned state and weights; other
//   sizes step in global memory), so their latency hides behind the MMAs and the cluster sync.
// * Grid: ceil(rows / tileN) clusters; clusterSize is 4 where K / 4 fits a slice (else 8, 2,
//   1), and tileN the smallest whose grid has at most one CTA per SM (per two SMs at batch
//   <= 16): the kernel is latency-bound (a chain of load, MMA, cluster barrier, DSMEM round,
//   store), and fewer ranks shorten the reduction while fewer CTAs re-read the activations less.
//   At the 130m shape on an H200 in_proj (3352 x 768) runs 27 clusters of 4 CTAs (tileN 128,
//   sliceK 192; 14 of 4 with tileN 256 at batch <= 16) and out_proj (768 x 1536) 12 clusters of
//   8 (tileN 64, sliceK 192; 6 of 8 with tileN 128 at batch <= 16).
// * Measured there (mamba-bench --breakdown, in-graph, PDL, bf16; session 10): RMSNorm + in_proj
//   + conv step 3.7 us at batch 1, 4.4 at 8, 6.5 at 32, 10.0 at 64; gated norm + out_proj +
//   residual add 3.6 at 1, 3.8 at 8, 5.8 at 32, 8.9 at 64. The weights' floor is ~1.3 and ~0.6
//   us: what remains is the latency chain (small batches) and, at 64, the split-K reduction's
//   distributed-shared-memory traffic (clusterSize x B x N x 4 bytes) and the prologue
//   recomputed by every cluster. Tried and slower: slices of up to 512 columns so that out_proj
//   runs clusters of 4 (5.8 -> 7.4 us at batch 32; branch wip/decode-gemm-wide-slice).
//
// Supported: sm_90 and newer (clusters, PDL), bf16 and fp16 (fp32 weights: the launcher throws
// and callers keep the existing path), batch 1..64, K a multiple of 16 with K / clusterSize <=
// 256 for some cluster size that is a multiple of `groups`, 16-byte aligned weight and fp32
// inputs. decodeGemmConfig says whether a shape is supported and why not.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"
#include "kernels/gemv/gemv.h"

namespace mamba::kernels {

constexpr int kDecodeGemmMaxBatch = 64;
constexpr int kDecodeGemmMaxSliceK = 256;  // K columns per CTA (the prologue holds 2 float4 per lane)
constexpr int kDecodeGemmMaxCluster = 8;

struct DecodeGemmConfig {
  int clusterSize = 0;  // CTAs per cluster, splitting K; 0 = not supported (see `why`)
  int sliceK = 0;       // K / clusterSize
  int tileN = 0;        // weight rows per cluster: 64, 128 or 256
  int mTiles = 0;       // 16-row batch tiles: 1, 2 or 4
  int clusters = 0;     // ceil(rows / tileN)
  int64_t sharedBytes = 0;  // dynamic shared memory per CTA
  const char* why = "";     // the reason when clusterSize == 0
};

// The launch configuration on the current device for `batch` rows of K = cols inputs into
// `rows` outputs; groups = the gated norm's groups (1 otherwise); convState = room for the conv
// step's state prefetch (kStoreConvStep). Queries the device once per process.
DecodeGemmConfig decodeGemmConfig(int batch, int cols, int rows, ElemType elem, int groups = 1,
                                  bool convState = true);
// The same fields as launchGemv (p.batch <= kDecodeGemmMaxBatch); throws CudaError when
// decodeGemmConfig refuses the shape, for unaligned pointers, or when a CUDA call fails.
void launchDecodeGemm(const GemvParams& p, Stream stream);

}  // namespace mamba::kernels
