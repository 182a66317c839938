// The Mamba-2 language model forward: chunked prefill and the batched decode step.
//
// Immutable after construction and safe to share across threads; all mutable per-sequence
// state lives in a StatePool passed to each call. Two calls may run concurrently only on
// disjoint slots of a pool (in practice one scheduler thread drives a pool).
#pragma once

#include <span>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "server/model/mixer_trace.h"
#include "server/model/model_config.h"
#include "server/model/model_weights.h"
#include "server/model/state_pool.h"

namespace mamba {
namespace cuda {
struct PersistentDecodeLayerTensors;  // kernels/torch/decode_persistent_ops.h (CUDA builds)
}  // namespace cuda

enum class LogitsMode {
  kNone,  // no logits (an intermediate chunk of a chunked prefill)
  kLast,  // (B, Vp): the last position of each sequence (generation)
  kAll,   // (B, Lmax, Vp): every position (scoring); rows past a sequence's length are unspecified
};

struct PrefillSequence {
  std::span<const int32_t> tokens;  // at least one token; ids < vocabSize
  int32_t slot = 0;
  bool continueFromState = false;   // start from the slot's state (a later prefill chunk) instead of zero
};

// Lays `seqs` out as prefillTensors() inputs: ids (B, length), each row right-padded with 0
// (length >= the longest sequence), and meta (3B) = [lengths | slots | continue flags].
void packPrefillInputs(const std::vector<PrefillSequence>& seqs, int64_t length, int64_t* ids, int64_t* meta);

class Mamba2Model {
 public:
  Mamba2Model(ModelConfig config, ModelWeights weights);

  // CUDA decode runs its small-batch GEMV kernels (kernels/gemv, with the norms, the conv step
  // and the residual add fused) only for d_inner up to this; wider layers stay on cuBLAS.
  static constexpr int64_t kGemvMaxDInner = 2048;
  // The fused three-kernel layer runs at batch <= kFusedDecodeMaxBatch. Its two products are
  // the tensor-core cluster kernels (kernels/decode_gemm: sm_90, bf16/fp16) wherever they
  // apply, else the CUDA-core GEMVs (kernels/gemv) up to kGemvDecodeMaxBatch (fp32 models,
  // older GPUs). On an H200 at the 130m shape (bf16, CUDA graphs) the tensor-core kernels won
  // at every batch, 1 included: in_proj + norm + conv 4.5 us against the GEMV's 4.7 at batch 1
  // and 6.1 at 2; whole step 0.37 vs 0.43 ms at batch 1 and 0.39 vs 0.54 at 2. Against the
  // unfused path (cuBLAS projections, separate norm and conv kernels) the fused step was 0.39
  // vs 0.74 ms at batch 3, 0.45 vs 0.75 at 8, 0.56 vs 0.82 at 16, 0.79 vs 1.01 at 32 and 1.40
  // vs 1.47 at 64 (mamba-bench --breakdown times each kernel). Again in session 15 (H200, graph
  // decode, fused on two streams vs MAMBA_DECODE_FUSED=0 on one): B32 0.697 vs 0.926, B64 1.115
  // vs 1.387; N = 64: 0.535 vs 0.736, 0.789 vs 0.998 (the unfused kernels' in-graph sum, 42.3 us
  // per layer at B64 against the fused 46.7, did not carry over to the chained step).
  static constexpr int64_t kGemvDecodeMaxBatch = 2;
  static constexpr int64_t kFusedDecodeMaxBatch = 64;
  // Whether CUDA decode of `batch` rows runs the fused three-kernel layer (in_proj with the
  // pre-norm and the conv step, the SSM step, out_proj with the gated norm and the residual
  // add) instead of cuBLAS projections with separate norm and conv kernels
  // (MAMBA_DECODE_FUSED=0, read per call, always takes the latter: for A/B runs).
  bool fusedDecode(int64_t batch) const;
  // Whether that fused layer's products at `batch` are the tensor-core kernels (else the GEMVs).
  bool fusedDecodeUsesGemm(int64_t batch) const;
  // Whether CUDA decode of `batch` rows on `pool` runs all layers in one persistent launch
  // (kernels/decode_persistent: one CTA per SM, the layers' phases separated by grid barriers)
  // instead of the fused three-kernel layers: batch <= 8 on supported shapes, when
  // MAMBA_DECODE_PERSISTENT=1 (read per call; off by default: it is measured slower, see
  // kernels/decode_persistent/decode_persistent.h).
  bool persistentDecode(int64_t batch, StatePool& pool) const;
  // Whether a CUDA prefill (no observer, cudaPrefillSupported) of `batch` sequences padded to
  // `len` tokens runs layer `layer`'s gated RMSNorm inside the SSD kernel (mamba2_prefill_cuda.cc:
  // bf16, one group, no out_proj bias, the sequential-chunk SSD; MAMBA_PREFILL_GATE_FUSION=0
  // turns it off). False without the CUDA kernels.
  bool prefillFusesGatedNorm(int64_t batch, int64_t len, int64_t layer) const;
  // Row blocks (one stream each) a fused decode batch of `batch` rows is split over; 1: not
  // split. Block i has rows [batch * i / parts, batch * (i + 1) / parts).
  static int64_t decodeParts(int64_t batch);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  torch::Device device() const { return weights_.device; }
  torch::ScalarType dtype() const { return weights_.dtype; }

  // Runs every sequence through all layers (right-padded into one batch), leaves each final
  // conv/SSM state in its slot, and returns fp32 logits per `mode`. Padding never changes a
  // sequence's result. `observer` (optional, e.g. pruning calibration) sees every layer's SSM
  // inputs (mixer_trace.h); it does not change the result.
  torch::Tensor prefill(const std::vector<PrefillSequence>& seqs, StatePool& pool, LogitsMode mode,
                        MixerObserver* observer = nullptr) const;

  // The same on tensors already on the model's device: ids (B, L) int64, right-padded (any id
  // past a sequence's length); meta (3B) int64 = [lengths | slots | continue flags (0/1)].
  // Without an observer it launches only on the current stream and never synchronises with
  // the host, so it can be captured into a CUDA graph (cuda_graph_prefiller.h).
  torch::Tensor prefillTensors(const torch::Tensor& ids, const torch::Tensor& meta, StatePool& pool, LogitsMode mode,
                               MixerObserver* observer = nullptr) const;

  // One token for each of B sequences: tokens[b] continues the sequence in slots[b].
  // Returns fp32 logits (B, Vp).
  torch::Tensor decode(std::span<const int32_t> tokens, std::span<const int32_t> slots, StatePool& pool) const;

  // The same step on tensors already on the model's device: tokens (B) int64, slots (B)
  // int32. On CUDA it runs the fused kernels, launches only on the current stream and never
  // synchronises with the host, so it can be captured into a CUDA graph; a slot of -1 marks a
  // padding row (no state is touched, its logits are meaningless).
  torch::Tensor decodeTensors(const torch::Tensor& tokens, const torch::Tensor& slots, StatePool& pool) const;

  // Layer `layer`'s in_proj as the forward runs it: u (..., Dm) -> zxbcdt (..., DIP') with
  // DIP' >= DIP (on CUDA the rows are zero-padded to a multiple of 8; columns past DIP are 0).
  torch::Tensor inProject(int64_t layer, const torch::Tensor& u) const;
  // The fused form (fusedDecode, CUDA only): RMSNorm of the fp32 residual (B, Dm) (read only),
  // inProject, and layer `layer`'s conv step on `pool` in place, in one kernel: the tensor-core
  // kernel (gemm; decode passes fusedDecodeUsesGemm(B)) or the GEMV, whatever the batch (the
  // bench times both where both apply). Returns zxbcdt (B, DIP') and the conv output xbc (B, CD)
  // fp32.
  std::pair<torch::Tensor, torch::Tensor> inProjectConvStep(int64_t layer, const torch::Tensor& residual,
                                                            const torch::Tensor& slots, StatePool& pool,
                                                            bool gemm) const;

 private:
  // One prefill call's per-sequence metadata, on the model's device.
  struct PrefillBatch {
    torch::Tensor lengths;       // (B) int64
    torch::Tensor slots;         // (B) int64
    torch::Tensor continueMask;  // (B) fp32: 1 = continue from the slot's state
  };
  torch::Tensor mixerPrefill(int64_t layer, const torch::Tensor& u, const PrefillBatch& batch, StatePool& pool,
                             MixerObserver* observer) const;
  // The prefill mixer on the fused CUDA kernels (mamba2_prefill_cuda.cc): conv + dt, chunked
  // SSD, gated RMSNorm. u: (B*L, Dm); meta: (3B) int32 = [lengths | slots | continue flags].
  // Returns (B, L, Dm). Graph-capturable (no host sync). Used on CUDA when no observer is
  // attached and cudaPrefillSupported(pool). With outRowSumSq given, the gated norm may be fused
  // into the SSD: then *outRowSumSq is (B*L, parts) fp32 and the returned rows still need the
  // factor rsqrt(row sum / d_inner + eps) (cuda::DeltaRowScale); else it is left undefined.
  bool cudaPrefillSupported(StatePool& pool) const;
  // Whether the CUDA prefill's norms may take their vector kernels (MAMBA_NORM_VEC, read once;
  // mamba2_prefill_cuda.cc's A/B knobs).
  static bool prefillVectorNorms();
  torch::Tensor mixerPrefillCuda(int64_t layer, const torch::Tensor& u, int64_t B, int64_t L, const torch::Tensor& meta,
                                 StatePool& pool, torch::Tensor* outRowSumSq = nullptr) const;
  torch::Tensor mixerStep(int64_t layer, const torch::Tensor& u, std::span<const int32_t> slots, StatePool& pool) const;
  torch::Tensor decodeCuda(const torch::Tensor& tokens, const torch::Tensor& slots, StatePool& pool) const;
  // The fused decode layers (fusedDecode) over the rows of `residual` (B, Dm) fp32, updated in
  // place, with their slots (B) on the current stream.
  void fusedDecodeLayers(const torch::Tensor& residual, const torch::Tensor& slots, StatePool& pool) const;
  torch::Tensor clampDt(torch::Tensor dt) const;
  // Every layer's tensors for the persistent decode of `batch` rows over `pool` when it runs
  // (see persistentDecode), else empty; built and checked once per decode call (CUDA builds only).
  std::vector<cuda::PersistentDecodeLayerTensors> persistentDecodeLayers(int64_t batch, StatePool& pool) const;

  ModelConfig config_;
  ModelWeights weights_;
  std::vector<torch::Tensor> convWeightF32_, convBiasF32_;  // per layer, for the fp32 step ops
  // Per layer: in_proj weight/bias with rows padded by zeros to a multiple of 8 on CUDA (a
  // compacted layer with odd N_i otherwise gives cuBLAS an unaligned output leading dimension
  // and a far slower kernel); weights_ holds views of their first DIP rows, so no copy is kept.
  std::vector<torch::Tensor> inProjPadded_, inProjBiasPadded_;
  // The persistent decode's grid barrier (int32 words on the device, zeroed once): every decode of
  // this model is stream-ordered on the scheduler's stream, so one barrier serves all launches.
  torch::Tensor persistentBarrier_;
};

}  // namespace mamba
