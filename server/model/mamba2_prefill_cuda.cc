// Mamba2Model's prefill mixer on the fused CUDA kernels (built only with MAMBA_WITH_CUDA):
// in_proj (cuBLAS), conv + dt (kernels/conv_prefill), chunked SSD (kernels/ssd_prefill), gated
// RMSNorm (kernels/norm), out_proj. Computes the same function as Mamba2Model::mixerPrefill.

#include "kernels/torch/cuda_ops.h"
#include "server/model/env_flag.h"
#include "server/model/mamba2_model.h"

namespace mamba {

bool Mamba2Model::cudaPrefillSupported(StatePool& pool) const {
  if (!device().is_cuda() || config_.convKernel > 16 || pool.numLayers() != config_.nLayer) return false;
  for (int64_t l = 0; l < config_.nLayer; ++l) {
    const auto ssm = pool.ssm(l).scalar_type();
    if (pool.conv(l).scalar_type() != torch::kFloat32 || (ssm != torch::kFloat32 && ssm != torch::kBFloat16)) return false;
  }
  return true;
}

torch::Tensor Mamba2Model::mixerPrefillCuda(int64_t l, const torch::Tensor& u, int64_t B, int64_t L,
                                            const torch::Tensor& meta, StatePool& pool) const {
  const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
  const int64_t Di = config_.dInner, G = config_.nGroups, CD = config_.convDim(l);
  const torch::Tensor lengths = meta.narrow(0, 0, B), slots = meta.narrow(0, B, B), cont = meta.narrow(0, 2 * B, B);
  // The chunk size only changes rounding (spec §4.4), so the kernels use the fastest one, not
  // the checkpoint's: on an H200 (130m shape) Q = 128 beat 256 at every length (1 x 512:
  // 1.72 vs 2.40 ms eager; 8 x 2048: 22.4 vs 22.5 ms; 8 x 16384: 166.5 vs 167.5 ms).
  constexpr int64_t Q = 128;
  static_assert(Q <= cuda::kSsdPrefillMaxChunk);

  torch::Tensor zxbcdt = inProject(l, u);                       // (B*L, DIP'), DIP' >= DIP
  torch::Tensor zx3 = zxbcdt.view({B, L, zxbcdt.size(1)});
  // x/B/C in the model dtype: the SSD's tensor-core operand type (as the reference kernels).
  // The SSD kernels stage operands with 16-byte loads only when every B/C row starts aligned,
  // so for an unaligned N (a compacted 115 or 38) the conv writes each B and C block at a
  // zero-padded pitch of the next multiple of 8 (element-by-element staging was 1.5x slower:
  // H200, N = 115, 8 x 16384: 260 ms vs dense 168).
  const int64_t N = config_.stateSize(l), vecElems = 16 / static_cast<int64_t>(c10::elementSize(dtype()));
  const int64_t pitch = N % vecElems == 0 ? 0 : (N + 7) / 8 * 8;
  // A/B knobs (timing only): MAMBA_CONV_VEC=0 keeps the per-channel conv kernel and
  // MAMBA_SSD_SINGLE_TILE=0 short prompts on the three-launch SSD (both bit for bit the same),
  // MAMBA_NORM_VEC=0 the two-pass gated norm (another summation order), MAMBA_SSD_SEQUENTIAL=0
  // every SSD call on the chunked kernels and =1 every call the sequential-chunk kernel supports
  // on it (unset: by shape; the same function to rounding).
  static const bool convVec = envFlagOn("MAMBA_CONV_VEC"), singleTile = envFlagOn("MAMBA_SSD_SINGLE_TILE"),
                    normVec = envFlagOn("MAMBA_NORM_VEC");
  static const kernels::SsdSequential sequential = !envFlagOn("MAMBA_SSD_SEQUENTIAL") ? kernels::SsdSequential::kOff
                                                   : envFlagSet("MAMBA_SSD_SEQUENTIAL") ? kernels::SsdSequential::kForce
                                                                                        : kernels::SsdSequential::kAuto;
  cuda::ConvPrefillResult conv = cuda::convPrefill(pool.conv(l), slots, cont, lengths, zx3, Di,
                                                   convWeightF32_[static_cast<size_t>(l)],
                                                   convBiasF32_[static_cast<size_t>(l)], Di + CD, w.dtBias,
                                                   config_.dtMin, config_.dtMax, dtype(), Di, N, pitch, convVec);
  torch::Tensor y =
      cuda::ssdPrefill(pool.ssm(l), slots, cont, lengths, conv.xbc, conv.dt, w.A, w.D, G, Q, pitch, singleTile,
                       sequential);  // (B, L, Di)
  torch::Tensor normed = cuda::gatedRmsNorm(y.view({B * L, Di}), zxbcdt, w.gatedNorm, G, config_.normEps, normVec);
  torch::Tensor out = torch::nn::functional::linear(normed, w.outProj, w.outProjBias);  // bias may be undefined
  return out.view({B, L, out.size(1)});
}

}  // namespace mamba
