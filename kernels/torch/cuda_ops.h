// LibTorch adapters for the CUDA kernels: validate dtype, device, shape and stride, then launch
// on the current CUDA stream (capturable into CUDA graphs: no host sync, no allocation besides
// the outputs). Shapes use the spec's symbols; B is the batch, S the pool's slot count.
#pragma once

#include <torch/torch.h>

#include "kernels/ssd_prefill/ssd_prefill.h"

namespace mamba::cuda {

// convState: (S, CD, K) fp32. slots: (B) int32 (-1 = padding row). zxbcdt: (B, DIP) contiguous,
// raw xBC at columns [xbcOffset, xbcOffset + CD). weight: (CD, K) fp32; bias: (CD) fp32 or
// undefined. Returns silu(conv) as (B, CD) fp32.
torch::Tensor convStep(torch::Tensor& convState, const torch::Tensor& slots, const torch::Tensor& zxbcdt,
                       int64_t xbcOffset, const torch::Tensor& weight, const torch::Tensor& bias);

// ssmState: (S, H, P, N) fp32 or bf16. xbc: (B, CD) fp32 from convStep. zxbcdt: (B, DIP), raw dt of head
// h at column dtOffset + h. dtBias, A, D: (H) fp32. Returns y (B, H*P) fp32.
torch::Tensor ssmStep(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& xbc,
                      const torch::Tensor& zxbcdt, int64_t dtOffset, const torch::Tensor& dtBias,
                      const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, double dtMin, double dtMax);

// y: (B, Di) fp32; z = zxbcdt[:, 0:Di]; weight: (Di) of zxbcdt's dtype. Returns (B, Di).
// allowVector = false keeps the two-pass kernel where the one-read vector kernel would run
// (the same function up to summation order; tests and A/B).
torch::Tensor gatedRmsNorm(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& weight,
                           int64_t groups, double eps, bool allowVector = true);

// A per-row factor of addRmsNorm's delta: delta[r] counts times rsqrt(sum_k sumSq[r, k] / width
// + eps), for a delta that is a linear map of a gated SSD output (ssdPrefillGated, below).
struct DeltaRowScale {
  torch::Tensor sumSq;  // (R, parts) fp32 contiguous; undefined: no factor
  int64_t width = 0;    // the norm's width (channels per group)
  double eps = 1e-5;
};

// residual: (R, W) fp32, updated in place (= delta if assign, += delta otherwise; delta may be
// undefined; scaled per row by deltaScale where its sumSq is defined). Returns
// RMSNorm(residual) * weight as (R, W) of weight's dtype. allowVector = false keeps the two-pass
// kernel where the one-warp-per-row vector kernel would run (R >= 1024 rows: prefill; the same
// function up to summation order; tests and A/B).
torch::Tensor addRmsNorm(torch::Tensor& residual, const torch::Tensor& delta, bool assign, const torch::Tensor& weight,
                         double eps, const DeltaRowScale& deltaScale = {}, bool allowVector = true);

// ---- Small-batch products of decode (kernels/gemv), for batch <= kGemvMaxBatch.
// Whether gemv/gatedRmsNormGemv take B rows of K inputs (batch and shared-memory limits, and
// K a multiple of one 16-byte load of `dtype`).
bool gemvSupports(int64_t batch, int64_t K, torch::ScalarType dtype);
// x: (B, K) of weight's dtype, unit column stride (rows may be strided); weight: (M, K)
// contiguous; bias: (M) or undefined. Returns x W^T + bias as (B, M).
torch::Tensor gemv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
// gatedRmsNorm(y, zxbcdt, normWeight, groups, eps) (above) fused with the product by weight:
// (B, M), equal to gemv(gatedRmsNorm(...), weight, bias) up to summation order.
torch::Tensor gatedRmsNormGemv(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               int64_t groups, double eps, const torch::Tensor& weight, const torch::Tensor& bias);
// The small-batch decode layer as three kernels (rmsNormGemvConvStep, ssmStep,
// gatedRmsNormGemvResidual), with the fp32 residual stream updated in place between layers.
//
// in_proj with the pre-norm in front and the conv step behind: residual (B, K) fp32 contiguous
// (read only); normWeight (K) of weight's dtype. Returns zxbcdt = gemv(u, weight, bias) (B, M)
// where u is what addRmsNorm(residual, {}, false, normWeight, eps) returns (bit for bit), and
// xbc = convStep(convState, slots, zxbcdt, xbcOffset, convWeight, convBias) (B, CD) fp32, with
// convState stepped in place exactly as convStep does. CD = convState.size(1).
struct RmsNormGemvConvResult {
  torch::Tensor zxbcdt, xbc;
};
RmsNormGemvConvResult rmsNormGemvConvStep(const torch::Tensor& residual, const torch::Tensor& normWeight, double eps,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          torch::Tensor& convState, const torch::Tensor& slots, int64_t xbcOffset,
                                          const torch::Tensor& convWeight, const torch::Tensor& convBias);
// gatedRmsNormGemv (above) added into residual (B, M) fp32 contiguous, in place: residual +=
// its (dtype-rounded) output, as addRmsNorm(residual, output, false, ...) would add it.
void gatedRmsNormGemvResidual(torch::Tensor& residual, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                              const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight,
                              const torch::Tensor& bias);

// ---- Greedy pick of logits rows (kernels/greedy): logits (R, >= vocab) fp32 with unit column
// stride. Returns (R, 2) float64 on the device: token id, logprob (see greedy.h).
torch::Tensor greedyPick(const torch::Tensor& logits, int64_t vocab);

// Zeroes index `slot` (along dim 0) of every tensor in `pools` with one launch: each a
// contiguous CUDA tensor on one device with slot < size(0) (a state pool's per-layer conv and
// SSM states; at most kZeroSlotMaxPools tensors).
constexpr int kZeroSlotMaxPools = 128;
void zeroSlot(const std::vector<torch::Tensor>& pools, int64_t slot);

// ---- Prefill over a right-padded batch of B sequences of up to L tokens. slots, cont
// (0 = fresh sequence, else continue from the slot's state) and lengths (real tokens, <= L)
// are (B) int32; slots must be distinct. Both launch only on the current stream.

// Causal conv (kernels/conv_prefill). convState: (S, CD, K) fp32, history in and each
// sequence's new window out. zxbcdt: (B, L, DIP) contiguous with raw xBC at columns
// [xbcOffset, xbcOffset + CD) and raw dt at [dtOffset, dtOffset + H). weight: (CD, K) fp32;
// bias: (CD) fp32 or undefined; dtBias: (H) fp32, or undefined for no dt. outDtype: fp32 or
// zxbcdt's dtype. Returns xbc = silu(conv) (B, L, CD) of outDtype and
// dt = clamp(softplus(dt_raw + dtBias), dtMin, dtMax) (B, L, H) fp32, 0 at steps >= length.
struct ConvPrefillResult {
  torch::Tensor xbc, dt;
};
// statePitch > 0 writes xbc in the SSD's padded layout instead: (B, L, dInner + 2*G*statePitch),
// each group's B and C block (stateSize channels) starting at a multiple of statePitch past
// dInner, zeros after it (see kernels/conv_prefill/conv_prefill.h). allowVector = false keeps
// the per-channel kernel where the vector one would run (same result, bit for bit; tests, A/B).
ConvPrefillResult convPrefill(torch::Tensor& convState, const torch::Tensor& slots, const torch::Tensor& cont,
                              const torch::Tensor& lengths, const torch::Tensor& zxbcdt, int64_t xbcOffset,
                              const torch::Tensor& weight, const torch::Tensor& bias, int64_t dtOffset,
                              const torch::Tensor& dtBias, double dtMin, double dtMax, torch::ScalarType outDtype,
                              int64_t dInner = 0, int64_t stateSize = 0, int64_t statePitch = 0,
                              bool allowVector = true);

// Chunked SSD scan (kernels/ssd_prefill). ssmState: (S, H, P, N) fp32 or bf16, initial state
// (where cont != 0) in and final state out. xbc: (B, L, H*P + 2*G*Np) fp32/fp16/bf16 contiguous
// (x, then each group's B and C in blocks of Np >= N columns whose extra columns are 0; as from
// convPrefill with that statePitch; its dtype is the tensor-core operand type);
// statePitch: Np (0 = N); dt: (B, L, H) fp32 (0 at padded steps); A, D: (H) fp32; chunkSize in
// 1..kSsdPrefillMaxChunk (numerics only). Returns y (B, L, H*P) fp32 with D*x included; rows
// t >= lengths[b] are 0. allowSingleTile = false keeps short calls (L <= 64 in one chunk) on
// the three-launch path instead of the fused one (same result, bit for bit; for tests and A/B).
// sequential: kAuto lets large calls take the sequential-chunk kernel (chunks of 64 whatever
// chunkSize is; the same function to rounding), kOff never, kForce wherever it supports the call.
constexpr int64_t kSsdPrefillMaxChunk = 256;
torch::Tensor ssdPrefill(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& cont,
                         const torch::Tensor& lengths, const torch::Tensor& xbc, const torch::Tensor& dt,
                         const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, int64_t chunkSize,
                         int64_t statePitch = 0, bool allowSingleTile = true,
                         kernels::SsdSequential sequential = kernels::SsdSequential::kAuto);
// ssdPrefill on the sequential-chunk kernel with the row-local part of the gated RMSNorm fused
// into its epilogue (kernels/ssd_prefill/ssd_prefill.h, `gated`): with v = y * silu(z),
// z = zxbcdt[:, :, 0:H*P], returns gated = v * normWeight (B, L, H*P) of xbc's dtype and sumSq
// (B*L, kernels::ssdGateParts(H, P)) fp32, whose row sums over a group's parts give the gated
// norm's sum of squares, so gatedRmsNorm(y) = gated * rsqrt(sum / width + eps) per row and group.
// Rows t >= lengths[b] are 0 in both. Throws unless the sequential-chunk kernel takes the call
// under `sequential` (see ssdPrefillSequential). zxbcdt: (B, L, >= H*P) with unit column stride
// and 16-byte aligned rows.
struct SsdGatedResult {
  torch::Tensor gated, sumSq;
};
SsdGatedResult ssdPrefillGated(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& cont,
                               const torch::Tensor& lengths, const torch::Tensor& xbc, const torch::Tensor& dt,
                               const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, int64_t statePitch,
                               const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               kernels::SsdSequential sequential = kernels::SsdSequential::kAuto);
// Whether ssdPrefill of these shapes takes the single-tile launch on the current device.
bool ssdPrefillSingleTile(int64_t B, int64_t L, int64_t H, int64_t P, int64_t N, int64_t chunkSize);
// Whether ssdPrefill of these shapes (one group, 16-byte aligned operands, N-column pitch) with
// operands of `dtype` takes the sequential-chunk launch on the current device under `mode`.
bool ssdPrefillSequential(int64_t B, int64_t L, int64_t H, int64_t P, int64_t N, int64_t chunkSize,
                          torch::ScalarType dtype, kernels::SsdSequential mode);

}  // namespace mamba::cuda
