#include "server/model/mamba2_model.h"

#include <algorithm>
#include <cmath>

#include "server/model/ssd.h"
#include "server/model/step_ops.h"
#ifdef MAMBA_HAVE_CUDA_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>

#include "kernels/common/launch_scope.h"
#include "kernels/torch/cuda_ops.h"
#include "kernels/torch/decode_gemm_ops.h"
#include "kernels/decode_persistent/decode_persistent.h"
#include "kernels/torch/decode_persistent_ops.h"
#include "server/model/env_flag.h"
#endif

namespace mamba {
namespace {

namespace F = torch::nn::functional;

}  // namespace

#ifdef MAMBA_HAVE_CUDA_KERNELS
namespace {

// MAMBA_DECODE_PERSISTENT_GRID=n: at most n CTAs (tuning runs; unset: one per SM).
int64_t persistentDecodeGrid() { return envPositiveInt("MAMBA_DECODE_PERSISTENT_GRID", 0); }

cuda::PersistentDecodeShape persistentShape(const ModelConfig& c) {
  cuda::PersistentDecodeShape s;
  s.dModel = c.dModel;
  s.dInner = c.dInner;
  s.nHeads = c.nHeads;
  s.headDim = c.headDim;
  s.nGroups = c.nGroups;
  s.convKernel = c.convKernel;
  s.eps = c.normEps;
  s.dtMin = c.dtMin;
  s.dtMax = c.dtMax;
  return s;
}

}  // namespace
#endif

Mamba2Model::Mamba2Model(ModelConfig config, ModelWeights weights)
    : config_(std::move(config)), weights_(std::move(weights)) {
  for (LayerWeights& l : weights_.layers) {
    convWeightF32_.push_back(l.convWeight.to(torch::kFloat32).contiguous());
    convBiasF32_.push_back(l.convBias.defined() ? l.convBias.to(torch::kFloat32).contiguous() : torch::Tensor());
    const int64_t dip = l.inProj.size(0), pad = (8 - dip % 8) % 8;
    if (pad == 0 || !weights_.device.is_cuda()) {
      inProjPadded_.push_back(l.inProj);
      inProjBiasPadded_.push_back(l.inProjBias);
      continue;
    }
    inProjPadded_.push_back(torch::cat({l.inProj, l.inProj.new_zeros({pad, l.inProj.size(1)})}));
    l.inProj = inProjPadded_.back().narrow(0, 0, dip);
    inProjBiasPadded_.push_back(l.inProjBias.defined() ? torch::cat({l.inProjBias, l.inProjBias.new_zeros({pad})})
                                                      : torch::Tensor());
    if (l.inProjBias.defined()) l.inProjBias = inProjBiasPadded_.back().narrow(0, 0, dip);
  }
#ifdef MAMBA_HAVE_CUDA_KERNELS
  if (weights_.device.is_cuda()) {
    persistentBarrier_ =
        torch::zeros({kernels::kGridBarrierWords}, torch::TensorOptions().dtype(torch::kInt32).device(weights_.device));
  }
#endif
}

torch::Tensor Mamba2Model::inProject(int64_t l, const torch::Tensor& u) const {
  return F::linear(u, inProjPadded_[static_cast<size_t>(l)], inProjBiasPadded_[static_cast<size_t>(l)]);
}

torch::Tensor Mamba2Model::clampDt(torch::Tensor dt) const {
  // time_step_limit, applied in prefill and decode alike so that both compute one function.
  if (config_.dtMin > 0.0 || std::isfinite(config_.dtMax)) {
    dt = dt.clamp(config_.dtMin, std::isfinite(config_.dtMax) ? config_.dtMax : std::numeric_limits<double>::max());
  }
  return dt;
}

void packPrefillInputs(const std::vector<PrefillSequence>& seqs, int64_t length, int64_t* ids, int64_t* meta) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  std::fill(ids, ids + B * length, 0);
  for (int64_t b = 0; b < B; ++b) {
    const PrefillSequence& s = seqs[static_cast<size_t>(b)];
    std::copy(s.tokens.begin(), s.tokens.end(), ids + b * length);
    meta[b] = static_cast<int64_t>(s.tokens.size());
    meta[B + b] = s.slot;
    meta[2 * B + b] = s.continueFromState ? 1 : 0;
  }
}

torch::Tensor Mamba2Model::prefill(const std::vector<PrefillSequence>& seqs, StatePool& pool, LogitsMode mode,
                                   MixerObserver* observer) const {
  torch::NoGradGuard noGrad;
  const int64_t B = static_cast<int64_t>(seqs.size());
  int64_t Lmax = 0;
  for (const auto& s : seqs) Lmax = std::max(Lmax, static_cast<int64_t>(s.tokens.size()));
  // Ids and per-sequence metadata in one host buffer and one host-to-device copy (each copy
  // from pageable memory synchronises the stream).
  torch::Tensor host = torch::empty({B * Lmax + 3 * B}, torch::kLong);
  packPrefillInputs(seqs, Lmax, host.data_ptr<int64_t>(), host.data_ptr<int64_t>() + B * Lmax);
  torch::Tensor dev = host.to(device());
  return prefillTensors(dev.narrow(0, 0, B * Lmax).view({B, Lmax}), dev.narrow(0, B * Lmax, 3 * B), pool, mode,
                        observer);
}

torch::Tensor Mamba2Model::prefillTensors(const torch::Tensor& idT, const torch::Tensor& metaT, StatePool& pool,
                                          LogitsMode mode, MixerObserver* observer) const {
  torch::NoGradGuard noGrad;
  const int64_t B = idT.size(0);
  PrefillBatch batch{metaT.narrow(0, 0, B), metaT.narrow(0, B, B), metaT.narrow(0, 2 * B, B).to(torch::kFloat32)};
  const torch::Tensor& lengths = batch.lengths;

  torch::Tensor h = F::embedding(idT, weights_.embedding);  // (B, L, Dm)
  const int64_t L = idT.size(1), Dm = config_.dModel;
  // Rows at each sequence's last position (kLast): (B, L, W) -> (B, W).
  auto lastRows = [&](const torch::Tensor& t) {
    return t.gather(1, (lengths - 1).view({B, 1, 1}).expand({B, 1, t.size(2)})).squeeze(1);
  };
#ifdef MAMBA_HAVE_CUDA_KERNELS
  if (device().is_cuda() && config_.residualInFp32) {
    // Fused residual add + RMSNorm kernel over the (B*L, Dm) rows, as in decode. The mixers
    // run the fused conv/SSD kernels unless an observer needs the LibTorch path's tensors.
    const bool fusedMixer = observer == nullptr && cudaPrefillSupported(pool);
    const torch::Tensor meta32 = fusedMixer ? metaT.to(torch::kInt) : torch::Tensor();
    torch::Tensor residual = torch::empty({B * L, Dm}, h.options().dtype(torch::kFloat32));
    // The row factor that h still needs when the last mixer fused its gated norm into the SSD
    // (mixerPrefillCuda), applied by the next add + RMSNorm.
    cuda::DeltaRowScale hScale{torch::Tensor(), config_.dInner, config_.normEps};
    const bool normVec = prefillVectorNorms();
    for (int64_t l = 0; l < config_.nLayer; ++l) {
      torch::Tensor u = cuda::addRmsNorm(residual, h.reshape({B * L, Dm}), l == 0, weights_.layers[l].norm,
                                         config_.normEps, hScale, normVec);
      h = fusedMixer ? mixerPrefillCuda(l, u, B, L, meta32, pool, &hScale.sumSq)
                     : mixerPrefill(l, u.view({B, L, Dm}), batch, pool, observer);
    }
    if (mode == LogitsMode::kNone) return {};
    torch::Tensor res = residual.view({B, L, Dm}), delta = h;
    if (mode == LogitsMode::kLast) {
      res = lastRows(res).contiguous();
      delta = lastRows(h).contiguous();
      if (hScale.sumSq.defined()) hScale.sumSq = lastRows(hScale.sumSq.view({B, L, -1})).contiguous();
    } else {
      res = residual;
      delta = h.reshape({B * L, Dm});
    }
    torch::Tensor out =
        cuda::addRmsNorm(res, delta, /*assign=*/false, weights_.normF, config_.normEps, hScale, normVec);
    torch::Tensor logits = F::linear(out, weights_.lmHead).to(torch::kFloat32);
    return mode == LogitsMode::kAll ? logits.view({B, L, -1}) : logits;
  }
#endif
  torch::Tensor residual;
  const auto resType = config_.residualInFp32 ? torch::kFloat32 : dtype();
  for (int64_t l = 0; l < config_.nLayer; ++l) {
    residual = l == 0 ? h.to(resType) : residual + h.to(resType);
    torch::Tensor u = rmsNorm(residual, weights_.layers[l].norm, config_.normEps, dtype());
    h = mixerPrefill(l, u, batch, pool, observer);
  }
  residual = residual + h.to(resType);
  if (mode == LogitsMode::kNone) return {};
  if (mode == LogitsMode::kLast) residual = lastRows(residual);
  torch::Tensor out = rmsNorm(residual, weights_.normF, config_.normEps, dtype());
  return F::linear(out, weights_.lmHead).to(torch::kFloat32);
}

torch::Tensor Mamba2Model::mixerPrefill(int64_t l, const torch::Tensor& u, const PrefillBatch& batch, StatePool& pool,
                                        MixerObserver* observer) const {
  const torch::Tensor& lengths = batch.lengths;
  const torch::Tensor& slotIdx = batch.slots;
  const torch::Tensor& contMask = batch.continueMask;
  const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
  const int64_t B = u.size(0), L = u.size(1);
  const int64_t Di = config_.dInner, H = config_.nHeads, P = config_.headDim, G = config_.nGroups;
  const int64_t N = w.stateSize, CD = config_.convDim(l), K = config_.convKernel;

  torch::Tensor zxbcdt = inProject(l, u);  // (B, L, DIP)
  torch::Tensor z = zxbcdt.narrow(2, 0, Di);
  torch::Tensor xBC = zxbcdt.narrow(2, Di, CD);
  torch::Tensor dtRaw = zxbcdt.narrow(2, Di + CD, H);

  // Causal depthwise conv over [history (K-1 raw inputs) | this chunk]. History is the slot's
  // conv window for a continued sequence, zeros (left padding) for a fresh one.
  torch::Tensor& convPool = pool.conv(l);
  torch::Tensor hist = convPool.index_select(0, slotIdx).narrow(2, 1, K - 1).transpose(1, 2);  // (B, K-1, CD)
  hist = (hist.to(torch::kFloat32) * contMask.view({B, 1, 1})).to(u.scalar_type());
  torch::Tensor xpad = torch::cat({hist, xBC}, 1);                            // (B, K-1+L, CD)
  // Depthwise causal conv as K shifted multiply-adds in fp32 (one fused pass each; avoids the
  // per-call algorithm search of a grouped conv1d). Tap k = K-1 multiplies the current token.
  const torch::Tensor& wF = convWeightF32_[static_cast<size_t>(l)];
  torch::Tensor xf = xpad.to(torch::kFloat32);
  torch::Tensor conv = xf.narrow(1, 0, L) * wF.select(1, 0);
  for (int64_t k = 1; k < K; ++k) conv.add_(xf.narrow(1, k, L) * wF.select(1, k));
  if (w.convBias.defined()) conv.add_(convBiasF32_[static_cast<size_t>(l)]);
  torch::Tensor act = torch::silu(conv);                                        // (B, L, CD) fp32

  // New conv window: the K raw inputs ending at each sequence's last real token.
  torch::Tensor pos = lengths.view({B, 1}) - 1 + torch::arange(K, lengths.options()).view({1, K});  // (B, K)
  torch::Tensor window = xpad.gather(1, pos.unsqueeze(-1).expand({B, K, CD})).transpose(1, 2);     // (B, CD, K)
  convPool.index_copy_(0, slotIdx, window.to(convPool.dtype()));

  torch::Tensor x = act.narrow(2, 0, Di).view({B, L, H, P});
  torch::Tensor Bm = act.narrow(2, Di, G * N).view({B, L, G, N});
  torch::Tensor Cm = act.narrow(2, Di + G * N, G * N).view({B, L, G, N});
  torch::Tensor dt = clampDt(F::softplus(dtRaw.to(torch::kFloat32) + w.dtBias));  // (B, L, H)
  torch::Tensor valid = torch::arange(L, lengths.options()).view({1, L}) < lengths.view({B, 1});
  dt = dt * valid.unsqueeze(-1).to(torch::kFloat32);  // padded steps: no decay, no input

  torch::Tensor& ssmPool = pool.ssm(l);
  torch::Tensor init = ssmPool.index_select(0, slotIdx).to(torch::kFloat32) * contMask.view({B, 1, 1, 1});
  if (observer) observer->onMixer({l, x, dt, w.A, Bm, Cm, init, lengths});
  // The chunk size only changes rounding (spec §4.4). On CPU 64 is the fastest whatever the
  // checkpoint says: 130m fp32 on the 2-core box, 1 x 64 / 1 x 512 / 1 x 2048 took 140 / 789 /
  // 3297 ms at Q = 64 against 329 / 1275 / 5646 ms at the checkpoint's 256 (the intra-chunk
  // work grows with L x Q, and a short prompt is padded to a whole chunk).
  constexpr int64_t kCpuChunk = 64;
  const int64_t Q = device().is_cpu() ? std::min<int64_t>(config_.chunkSize, kCpuChunk) : config_.chunkSize;
  SsdResult r = ssdChunkScan(x, dt, w.A, Bm, Cm, w.D, Q, init);
  ssmPool.index_copy_(0, slotIdx, r.finalState.to(ssmPool.dtype()));

  torch::Tensor y = gatedRmsNorm(r.y.view({B, L, Di}), z, w.gatedNorm, G, config_.normEps, dtype());
  return F::linear(y, w.outProj, w.outProjBias);
}

torch::Tensor Mamba2Model::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots, StatePool& pool) const {
  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  torch::Tensor idT = torch::tensor(ids, torch::kLong).to(device());
  torch::Tensor slotT = torch::tensor(std::vector<int32_t>(slots.begin(), slots.end()), torch::kInt).to(device());
  return decodeTensors(idT, slotT, pool);
}

torch::Tensor Mamba2Model::decodeTensors(const torch::Tensor& tokens, const torch::Tensor& slots, StatePool& pool) const {
  torch::NoGradGuard noGrad;
#ifdef MAMBA_HAVE_CUDA_KERNELS
  if (device().is_cuda() && config_.residualInFp32) return decodeCuda(tokens, slots, pool);
#endif
  torch::Tensor slotsCpu = slots.to(torch::kCPU).contiguous();
  std::span<const int32_t> slotSpan(slotsCpu.data_ptr<int32_t>(), static_cast<size_t>(slotsCpu.numel()));
  torch::Tensor h = F::embedding(tokens, weights_.embedding);  // (B, Dm)
  torch::Tensor residual;
  const auto resType = config_.residualInFp32 ? torch::kFloat32 : dtype();
  for (int64_t l = 0; l < config_.nLayer; ++l) {
    residual = l == 0 ? h.to(resType) : residual + h.to(resType);
    torch::Tensor u = rmsNorm(residual, weights_.layers[l].norm, config_.normEps, dtype());
    h = mixerStep(l, u, slotSpan, pool);
  }
  residual = residual + h.to(resType);
  torch::Tensor out = rmsNorm(residual, weights_.normF, config_.normEps, dtype());
  return F::linear(out, weights_.lmHead).to(torch::kFloat32);
}

#ifdef MAMBA_HAVE_CUDA_KERNELS
torch::Tensor Mamba2Model::decodeCuda(const torch::Tensor& tokens, const torch::Tensor& slots, StatePool& pool) const {
  const int64_t B = tokens.size(0);
  const int64_t Dm = config_.dModel, Di = config_.dInner, G = config_.nGroups;
  torch::Tensor h = F::embedding(tokens, weights_.embedding);  // (B, Dm)
  // Batches up to kFusedDecodeMaxBatch of narrow models run products with the neighbouring ops
  // fused in (fusedDecode; the tensor-core kernels, or GEMVs where those do not apply): the
  // fp32 residual stream is updated in place, no per-layer addRmsNorm.
  const bool gemvOut = Di <= kGemvMaxDInner && cuda::gemvSupports(B, Di, dtype());
  torch::Tensor residual;
  if (const std::vector<cuda::PersistentDecodeLayerTensors> layers = persistentDecodeLayers(B, pool); !layers.empty()) {
    residual = h.to(torch::kFloat32);
    torch::Tensor barrier = persistentBarrier_;  // a handle: the kernel updates the device words
    cuda::persistentDecode(residual, slots, layers, persistentShape(config_), barrier, persistentDecodeGrid());
    h = torch::Tensor();
  } else if (fusedDecode(B)) {
    residual = h.to(torch::kFloat32);  // what layer 0's addRmsNorm(assign) would store
    const int64_t parts = decodeParts(B);
    if (parts == 1) {
      fusedDecodeLayers(residual, slots, pool);
    } else {
      // Independent row blocks on `parts` streams (forked from and joined back into the current
      // one before the final norm). Meant to overlap one block's latency-bound products with
      // another's bandwidth-bound SSM step; measured, they barely overlap, and the gain is that
      // kernels of half the batch are more efficient (bench/results/h200_2026-12-01/session10).
      at::cuda::CUDAStream main = at::cuda::getCurrentCUDAStream();
      at::cuda::CUDAEvent fork;
      fork.record(main);
      std::vector<at::cuda::CUDAEvent> joins(static_cast<size_t>(parts - 1));
      for (int64_t i = 0; i < parts; ++i) {
        const int64_t r0 = B * i / parts, rows = B * (i + 1) / parts - r0;
        if (i == 0) {
          fusedDecodeLayers(residual.narrow(0, r0, rows), slots.narrow(0, r0, rows), pool);
          continue;
        }
        at::cuda::CUDAStream side = at::cuda::getStreamFromPool(false, main.device_index());
        fork.block(side);
        at::cuda::CUDAStreamGuard guard(side);
        fusedDecodeLayers(residual.narrow(0, r0, rows), slots.narrow(0, r0, rows), pool);
        joins[static_cast<size_t>(i - 1)].record(side);
      }
      for (at::cuda::CUDAEvent& join : joins) join.block(main);
    }
    h = torch::Tensor();  // already in the residual
  } else {
    residual = torch::empty({B, Dm}, h.options().dtype(torch::kFloat32));
    for (int64_t l = 0; l < config_.nLayer; ++l) {
      const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
      const int64_t CD = config_.convDim(l);
      torch::Tensor u = cuda::addRmsNorm(residual, h, /*assign=*/l == 0, w.norm, config_.normEps);
      torch::Tensor zxbcdt = inProject(l, u);  // (B, DIP')
      torch::Tensor xbc = cuda::convStep(pool.conv(l), slots, zxbcdt, Di, convWeightF32_[static_cast<size_t>(l)],
                                         convBiasF32_[static_cast<size_t>(l)]);
      torch::Tensor y = cuda::ssmStep(pool.ssm(l), slots, xbc, zxbcdt, Di + CD, w.dtBias, w.A, w.D, G,
                                      config_.dtMin, config_.dtMax);
      h = gemvOut ? cuda::gatedRmsNormGemv(y, zxbcdt, w.gatedNorm, G, config_.normEps, w.outProj, w.outProjBias)
                  : F::linear(cuda::gatedRmsNorm(y, zxbcdt, w.gatedNorm, G, config_.normEps), w.outProj,
                              w.outProjBias);
    }
  }
  torch::Tensor out = cuda::addRmsNorm(residual, h, /*assign=*/false, weights_.normF, config_.normEps);
  return F::linear(out, weights_.lmHead).to(torch::kFloat32);
}

void Mamba2Model::fusedDecodeLayers(const torch::Tensor& residual, const torch::Tensor& slots, StatePool& pool) const {
  const int64_t B = residual.size(0), Di = config_.dInner, G = config_.nGroups;
  const bool gemm = fusedDecodeUsesGemm(B);
  // MAMBA_DECODE_STEP_PDL=0: the SSM step is launched in plain stream order, not early under
  // programmatic dependent launch (for A/B runs). Tested as the reason two decode streams barely
  // overlap (early-launched CTAs parked on the SMs the other row block needs): refuted, plain
  // order is slower at every batch (H200, 130m bf16: B1 0.350 vs 0.314, B64 1.234 vs 1.123 ms;
  // bench/results/h200_2026-12-01/session11).
  static const bool stepPdl = envFlagOn("MAMBA_DECODE_STEP_PDL");
  for (int64_t l = 0; l < config_.nLayer; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    const int64_t CD = config_.convDim(l);
    auto [zxbcdt, xbc] = inProjectConvStep(l, residual, slots, pool, gemm);  // (B, DIP'), (B, CD)
    torch::Tensor y;
    {
      kernels::PdlScope pdl(stepPdl);
      y = cuda::ssmStep(pool.ssm(l), slots, xbc, zxbcdt, Di + CD, w.dtBias, w.A, w.D, G, config_.dtMin,
                        config_.dtMax);
    }
    torch::Tensor res = residual;  // updated in place (a row block of the caller's residual)
    if (gemm) {
      cuda::gatedRmsNormGemmResidual(res, y, zxbcdt, w.gatedNorm, G, config_.normEps, w.outProj, w.outProjBias);
    } else {
      cuda::gatedRmsNormGemvResidual(res, y, zxbcdt, w.gatedNorm, G, config_.normEps, w.outProj, w.outProjBias);
    }
  }
}

int64_t Mamba2Model::decodeParts(int64_t batch) {
  // MAMBA_DECODE_STREAMS [2] streams (1..4) for fused decode batches of at least
  // MAMBA_DECODE_SPLIT_MIN_BATCH [32] rows, at least half that many rows each (read per call:
  // tests and A/B runs toggle them). H200, 130m bf16, graph decode in one process, two streams
  // vs one: B64 1.177 vs 1.341 ms, B32 0.739 vs 0.779; B16 split in two 0.560 vs 0.559-0.573;
  // three streams B64 1.287, four 1.384 (bench/results/h200_2026-12-01/session8), so two. After
  // session 10's decode GEMM change, streams 1 / 2 / 3 / 4 at B64: 1.389 / 1.122 / 1.153 / 1.133;
  // session 15: 1.319 / 1.112 / 1.144 / 1.127, compacted N = 64 0.991 / 0.789 / 0.842 / 0.822.
  // Only the fused form splits: the unfused one (above kFusedDecodeMaxBatch) on two streams
  // was slower, B128 2.43 vs 2.16-2.21 ms and B256 4.02 vs 3.90-3.95 (session 15).
  const int64_t streams = std::min<int64_t>(envPositiveInt("MAMBA_DECODE_STREAMS", 2), 4);
  const int64_t threshold = std::max<int64_t>(envPositiveInt("MAMBA_DECODE_SPLIT_MIN_BATCH", 32), 2);
  if (streams < 2 || batch < threshold) return 1;
  return std::clamp<int64_t>(batch / (threshold / 2), 1, streams);
}

bool Mamba2Model::persistentDecode(int64_t batch, StatePool& pool) const {
  return !persistentDecodeLayers(batch, pool).empty();
}

std::vector<cuda::PersistentDecodeLayerTensors> Mamba2Model::persistentDecodeLayers(int64_t batch,
                                                                                     StatePool& pool) const {
  if (!device().is_cuda() || !config_.residualInFp32 || batch < 1 || batch > kernels::kPersistentDecodeMaxBatch) {
    return {};
  }
  // Off unless MAMBA_DECODE_PERSISTENT=1: measured slower than the fused layers (H200, 130m bf16:
  // 0.533 vs 0.325 ms at batch 1, 1.316 vs 0.430 at 8; bench/results/h200_2026-12-01/session11).
  if (!envFlagSet("MAMBA_DECODE_PERSISTENT")) return {};
  std::vector<cuda::PersistentDecodeLayerTensors> out(weights_.layers.size());
  for (size_t l = 0; l < out.size(); ++l) {
    const LayerWeights& w = weights_.layers[l];
    cuda::PersistentDecodeLayerTensors& t = out[l];
    t.norm = w.norm;
    t.inProj = inProjPadded_[l];
    t.inProjBias = inProjBiasPadded_[l];
    t.convState = pool.conv(static_cast<int64_t>(l));
    t.convWeight = convWeightF32_[l];
    t.convBias = convBiasF32_[l];
    t.ssmState = pool.ssm(static_cast<int64_t>(l));
    t.dtBias = w.dtBias;
    t.A = w.A;
    t.D = w.D;
    t.gatedNorm = w.gatedNorm;
    t.outProj = w.outProj;
    t.outProjBias = w.outProjBias;
  }
  if (!cuda::persistentDecodeUnsupported(batch, persistentShape(config_), out, persistentDecodeGrid()).empty()) {
    return {};
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> Mamba2Model::inProjectConvStep(int64_t layer, const torch::Tensor& residual,
                                                                       const torch::Tensor& slots, StatePool& pool,
                                                                       bool gemm) const {
  const auto li = static_cast<size_t>(layer);
  auto* op = gemm ? &cuda::rmsNormGemmConvStep : &cuda::rmsNormGemvConvStep;
  cuda::RmsNormGemvConvResult r =
      op(residual, weights_.layers[li].norm, config_.normEps, inProjPadded_[li], inProjBiasPadded_[li],
         pool.conv(layer), slots, config_.dInner, convWeightF32_[li], convBiasF32_[li]);
  return {r.zxbcdt, r.xbc};
}

bool Mamba2Model::fusedDecode(int64_t batch) const {
  const int64_t Dm = config_.dModel, Di = config_.dInner;
  if (!envFlagOn("MAMBA_DECODE_FUSED") || !device().is_cuda() || !config_.residualInFp32 || Di > kGemvMaxDInner ||
      config_.convKernel > 16 || batch < 1 || batch > kFusedDecodeMaxBatch) {
    return false;
  }
  if (fusedDecodeUsesGemm(batch)) return true;
  // The GEMV re-reads its batch rows from shared memory for every weight load: at batch 8 its
  // in_proj took 14.3 us against cuBLAS's 3.4 us (H200, 130m), hence kGemvDecodeMaxBatch.
  return batch <= kGemvDecodeMaxBatch && cuda::gemvSupports(batch, Dm, dtype()) &&
         cuda::gemvSupports(batch, Di, dtype());
}

bool Mamba2Model::fusedDecodeUsesGemm(int64_t batch) const {
  // in_proj's rows differ per layer only in a compacted model; the support does not depend on them.
  const int64_t Dm = config_.dModel, Di = config_.dInner;
  const int64_t inRows = inProjPadded_.empty() ? 1 : inProjPadded_.front().size(0);
  return device().is_cuda() && cuda::decodeGemmSupports(batch, Dm, inRows, dtype()) &&
         cuda::decodeGemmSupports(batch, Di, Dm, dtype(), config_.nGroups);
}
#else
torch::Tensor Mamba2Model::decodeCuda(const torch::Tensor&, const torch::Tensor&, StatePool&) const {
  throw StatusError(unimplemented("built without CUDA kernels"));
}

std::pair<torch::Tensor, torch::Tensor> Mamba2Model::inProjectConvStep(int64_t, const torch::Tensor&,
                                                                       const torch::Tensor&, StatePool&, bool) const {
  throw StatusError(unimplemented("built without CUDA kernels"));
}

bool Mamba2Model::fusedDecode(int64_t) const { return false; }
bool Mamba2Model::persistentDecode(int64_t, StatePool&) const { return false; }
bool Mamba2Model::fusedDecodeUsesGemm(int64_t) const { return false; }
bool Mamba2Model::prefillFusesGatedNorm(int64_t, int64_t, int64_t) const { return false; }
#endif

torch::Tensor Mamba2Model::mixerStep(int64_t l, const torch::Tensor& u, std::span<const int32_t> slots,
                                     StatePool& pool) const {
  const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
  const int64_t B = u.size(0);
  const int64_t Di = config_.dInner, H = config_.nHeads, P = config_.headDim, G = config_.nGroups;
  const int64_t N = w.stateSize, CD = config_.convDim(l);
  torch::Tensor zxbcdt = inProject(l, u);  // (B, DIP)
  torch::Tensor z = zxbcdt.narrow(1, 0, Di);
  torch::Tensor xBC = zxbcdt.narrow(1, Di, CD);
  torch::Tensor dtRaw = zxbcdt.narrow(1, Di + CD, H);
  torch::Tensor act = convStepInPlace(pool.conv(l), slots, xBC.to(torch::kFloat32),
                                      convWeightF32_[static_cast<size_t>(l)], convBiasF32_[static_cast<size_t>(l)]);
  torch::Tensor x = act.narrow(1, 0, Di).reshape({B, H, P});
  torch::Tensor Bm = act.narrow(1, Di, G * N).reshape({B, G, N});
  torch::Tensor Cm = act.narrow(1, Di + G * N, G * N).reshape({B, G, N});
  torch::Tensor dt = clampDt(F::softplus(dtRaw.to(torch::kFloat32) + w.dtBias));  // (B, H)
  torch::Tensor y = ssmStepInPlace(pool.ssm(l), slots, x, dt, w.A, Bm, Cm, w.D);   // (B, H, P)
  torch::Tensor out = gatedRmsNorm(y.view({B, Di}), z, w.gatedNorm, G, config_.normEps, dtype());
  return F::linear(out, w.outProj, w.outProjBias);
}

}  // namespace mamba
