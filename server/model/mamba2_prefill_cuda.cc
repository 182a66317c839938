// Mamba2Model's prefill mixer on the fused CUDA kernels (built only with MAMBA_WITH_CUDA):
// in_proj (cuBLAS), conv + dt (kernels/conv_prefill), chunked SSD (kernels/ssd_prefill), gated
// RMSNorm (kernels/norm), out_proj. Computes the same function as Mamba2Model::mixerPrefill.
//
// Where the sequential-chunk SSD kernel runs (large calls) on a bf16 model with one group and no
// out_proj bias, the gated norm has no kernel of its own: the SSD writes v * weight (v = y silu z)
// and each row's sums of v^2, out_proj multiplies the unnormalised rows, and the norm's factor
// rsqrt(mean(v^2) + eps), one per row, scales out_proj's output in the next add + RMSNorm (a row
// factor commutes with the product). That saves the norm's pass over y (fp32) and z at every
// layer. The rounding points move (v * weight is rounded to bf16 before the factor, not after);
// bf16 only, because an fp16 v * weight could overflow where the normalised value would not.

#include "kernels/torch/cuda_ops.h"
#include "server/model/env_flag.h"
#include "server/model/mamba2_model.h"
#include "server/model/state_padding.h"

namespace mamba {
namespace {

// A/B knobs (timing only, read once per process): MAMBA_CONV_VEC=0 keeps the per-channel conv
// kernel and MAMBA_SSD_SINGLE_TILE=0 short prompts on the three-launch SSD (both bit for bit the
// same), MAMBA_NORM_VEC=0 the two-pass gated and add + RMSNorm kernels (another summation order; the
// add + RMSNorm's through prefillVectorNorms), MAMBA_SSD_SEQUENTIAL
// =0 every SSD call on the chunked kernels and =1 every call the sequential-chunk kernel supports
// on it (unset: by shape), MAMBA_PREFILL_GATE_FUSION=0 the gated norm as its own kernel after
// every SSD (the last three: the same function to rounding).
struct PrefillKnobs {
  bool convVec = envFlagOn("MAMBA_CONV_VEC"), singleTile = envFlagOn("MAMBA_SSD_SINGLE_TILE"),
       normVec = envFlagOn("MAMBA_NORM_VEC"), gateFusion = envFlagOn("MAMBA_PREFILL_GATE_FUSION");
  kernels::SsdSequential sequential = !envFlagOn("MAMBA_SSD_SEQUENTIAL") ? kernels::SsdSequential::kOff
                                      : envFlagSet("MAMBA_SSD_SEQUENTIAL") ? kernels::SsdSequential::kForce
                                                                           : kernels::SsdSequential::kAuto;
};
const PrefillKnobs& knobs() {
  static const PrefillKnobs k;
  return k;
}

// The chunk size only changes rounding (spec §4.4), so the kernels use the fastest one, not
// the checkpoint's: on an H200 (130m shape) Q = 128 beat 256 at every length (1 x 512:
// 1.72 vs 2.40 ms eager; 8 x 2048: 22.4 vs 22.5 ms; 8 x 16384: 166.5 vs 167.5 ms).
constexpr int64_t kPrefillChunk = 128;
static_assert(kPrefillChunk <= cuda::kSsdPrefillMaxChunk);

// The state pitch of layer l's B and C blocks in the conv output: 0 (= N) where N is a whole
// number of 16-byte vectors, else N rounded up to 8 (see mixerPrefillCuda).
int64_t convStatePitch(int64_t N, torch::ScalarType dtype) {
  return N % statesPer16Bytes(dtype) == 0 ? 0 : paddedStateSize(N, 8);
}

}  // namespace

bool Mamba2Model::prefillVectorNorms() { return knobs().normVec; }

bool Mamba2Model::prefillFusesGatedNorm(int64_t B, int64_t L, int64_t l) const {
  const int64_t N = config_.stateSize(l), pitch = convStatePitch(N, dtype());
  return device().is_cuda() && knobs().gateFusion && dtype() == torch::kBFloat16 && config_.nGroups == 1 &&
         !weights_.layers[static_cast<size_t>(l)].outProjBias.defined() &&
         cuda::ssdPrefillSequential(B, L, config_.nHeads, config_.headDim, pitch > 0 ? pitch : N, kPrefillChunk,
                                    dtype(), knobs().sequential);
}

bool Mamba2Model::cudaPrefillSupported(StatePool& pool) const {
  if (!device().is_cuda() || config_.convKernel > 16 || pool.numLayers() != config_.nLayer) return false;
  for (int64_t l = 0; l < config_.nLayer; ++l) {
    const auto ssm = pool.ssm(l).scalar_type();
    if (pool.conv(l).scalar_type() != torch::kFloat32 || (ssm != torch::kFloat32 && ssm != torch::kBFloat16)) return false;
  }
  return true;
}

torch::Tensor Mamba2Model::mixerPrefillCuda(int64_t l, const torch::Tensor& u, int64_t B, int64_t L,
                                            const torch::Tensor& meta, StatePool& pool,
                                            torch::Tensor* outRowSumSq) const {
  const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
  const int64_t Di = config_.dInner, G = config_.nGroups, CD = config_.convDim(l);
  const torch::Tensor lengths = meta.narrow(0, 0, B), slots = meta.narrow(0, B, B), cont = meta.narrow(0, 2 * B, B);
  constexpr int64_t Q = kPrefillChunk;

  torch::Tensor zxbcdt = inProject(l, u);                       // (B*L, DIP'), DIP' >= DIP
  torch::Tensor zx3 = zxbcdt.view({B, L, zxbcdt.size(1)});
  // x/B/C in the model dtype: the SSD's tensor-core operand type (as the reference kernels).
  // The SSD kernels stage operands with 16-byte loads only when every B/C row starts aligned,
  // so for an unaligned N (a compacted 115 or 38) the conv writes each B and C block at a
  // zero-padded pitch of the next multiple of 8 (element-by-element staging was 1.5x slower:
  // H200, N = 115, 8 x 16384: 260 ms vs dense 168).
  const int64_t N = config_.stateSize(l), pitch = convStatePitch(N, dtype());
  const PrefillKnobs& k = knobs();
  cuda::ConvPrefillResult conv = cuda::convPrefill(pool.conv(l), slots, cont, lengths, zx3, Di,
                                                   convWeightF32_[static_cast<size_t>(l)],
                                                   convBiasF32_[static_cast<size_t>(l)], Di + CD, w.dtBias,
                                                   config_.dtMin, config_.dtMax, dtype(), Di, N, pitch, k.convVec);
  if (outRowSumSq != nullptr && prefillFusesGatedNorm(B, L, l)) {
    cuda::SsdGatedResult g = cuda::ssdPrefillGated(pool.ssm(l), slots, cont, lengths, conv.xbc, conv.dt, w.A, w.D, G,
                                                   pitch, zx3, w.gatedNorm, k.sequential);
    *outRowSumSq = g.sumSq;  // (B*L, parts): the caller's next add + RMSNorm applies the factor
    torch::Tensor out = torch::nn::functional::linear(g.gated.view({B * L, Di}), w.outProj);
    return out.view({B, L, out.size(1)});
  }
  torch::Tensor y =
      cuda::ssdPrefill(pool.ssm(l), slots, cont, lengths, conv.xbc, conv.dt, w.A, w.D, G, Q, pitch, k.singleTile,
                       k.sequential);  // (B, L, Di)
  if (outRowSumSq != nullptr) *outRowSumSq = torch::Tensor();
  torch::Tensor normed = cuda::gatedRmsNorm(y.view({B * L, Di}), zxbcdt, w.gatedNorm, G, config_.normEps, k.normVec);
  torch::Tensor out = torch::nn::functional::linear(normed, w.outProj, w.outProjBias);  // bias may be undefined
  return out.view({B, L, out.size(1)});
}

}  // namespace mamba
