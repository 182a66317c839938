#include "bench/decode_breakdown.h"

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>

#include "kernels/torch/cuda_ops.h"
#include "kernels/torch/decode_gemm_ops.h"

namespace mamba::bench {
namespace {

// Microseconds per call of `op`, replayed from a graph of `reps` back-to-back calls.
double inGraphMicros(const std::function<void()>& op, int reps = 50, int replays = 5) {
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  at::cuda::getCurrentCUDAStream().synchronize();
  at::cuda::CUDAGraph graph;
  {
    at::cuda::CUDAStreamGuard guard(side);
    op();  // warm-up (cuBLAS handles, workspaces) outside the capture
    side.synchronize();
    graph.capture_begin();
    for (int i = 0; i < reps; ++i) op();
    graph.capture_end();
  }
  graph.replay();
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
  start.record();
  for (int i = 0; i < replays; ++i) graph.replay();
  stop.record();
  stop.synchronize();
  return static_cast<double>(start.elapsed_time(stop)) * 1e3 / (reps * replays);
}

}  // namespace

nlohmann::json decodeBreakdown(const Mamba2Model& model, StatePool& pool, int64_t B, bool withParts) {
  torch::NoGradGuard noGrad;
  const ModelConfig& c = model.config();
  const LayerWeights& w = model.weights().layers[0];
  const auto dev = model.device();
  const int64_t Di = c.dInner, CD = c.convDim(0), G = c.nGroups;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  torch::Tensor residual = torch::randn({B, c.dModel}, f32);
  torch::Tensor h = torch::randn({B, c.dModel}, f32.dtype(model.dtype()));
  torch::Tensor u = torch::randn({B, c.dModel}, f32.dtype(model.dtype()));
  torch::Tensor zx = torch::randn({B, w.inProj.size(0)}, f32.dtype(model.dtype()));
  torch::Tensor slots = torch::arange(B, f32.dtype(torch::kInt32));
  torch::Tensor convW = w.convWeight.to(torch::kFloat32), convB = w.convBias.defined() ? w.convBias.to(torch::kFloat32) : torch::Tensor();
  torch::Tensor xbc = cuda::convStep(pool.conv(0), slots, zx, Di, convW, convB);
  torch::Tensor y = torch::randn({B, Di}, f32);
  torch::Tensor g = torch::randn({B, Di}, f32.dtype(model.dtype()));
  namespace F = torch::nn::functional;
  std::vector<std::pair<std::string, std::function<void()>>> ops = {
      {"add_rmsnorm", [&] { cuda::addRmsNorm(residual, h, false, w.norm, c.normEps); }},
      {"in_proj", [&] { model.inProject(0, u); }},
      {"conv_step", [&] { cuda::convStep(pool.conv(0), slots, zx, Di, convW, convB); }},
      {"ssm_step", [&] { cuda::ssmStep(pool.ssm(0), slots, xbc, zx, Di + CD, w.dtBias, w.A, w.D, G, c.dtMin, c.dtMax); }},
      {"gated_rmsnorm", [&] { cuda::gatedRmsNorm(y, zx, w.gatedNorm, G, c.normEps); }},
      {"out_proj", [&] { F::linear(g, w.outProj, w.outProjBias); }},
  };
  // What decode runs instead at small batch of narrow models (mamba2_model.cc): in_proj with
  // the pre-norm and the conv step fused, out_proj with the gated norm and the residual add
  // fused, as GEMVs (kernels/gemv) or as the tensor-core cluster kernels (kernels/decode_gemm);
  // both are timed where they apply, with the plain products for comparison.
  const bool narrow = Di <= Mamba2Model::kGemvMaxDInner;
  const bool fused = model.fusedDecode(B);
  const bool fusedGemm = fused && model.fusedDecodeUsesGemm(B);
  const int64_t Dm = c.dModel;
  if (narrow && cuda::gemvSupports(B, Dm, model.dtype()) && cuda::gemvSupports(B, Di, model.dtype())) {
    ops.emplace_back("in_proj_gemv", [&] { cuda::gemv(u, w.inProj, w.inProjBias); });
    ops.emplace_back("rmsnorm_in_proj_conv_gemv",
                     [&] { model.inProjectConvStep(0, residual, slots, pool, /*gemm=*/false); });
  }
  if (narrow && cuda::gemvSupports(B, Di, model.dtype())) {
    ops.emplace_back("gated_rmsnorm_out_proj_gemv",
                     [&] { cuda::gatedRmsNormGemv(y, zx, w.gatedNorm, G, c.normEps, w.outProj, w.outProjBias); });
    ops.emplace_back("gated_rmsnorm_out_proj_residual_gemv", [&] {
      cuda::gatedRmsNormGemvResidual(residual, y, zx, w.gatedNorm, G, c.normEps, w.outProj, w.outProjBias);
    });
  }
  if (cuda::decodeGemmSupports(B, Dm, w.inProj.size(0), model.dtype())) {
    ops.emplace_back("in_proj_gemm", [&] { cuda::decodeGemm(u, w.inProj, w.inProjBias); });
    ops.emplace_back("rmsnorm_in_proj_conv_gemm",
                     [&] { model.inProjectConvStep(0, residual, slots, pool, /*gemm=*/true); });
  }
  if (cuda::decodeGemmSupports(B, Di, Dm, model.dtype(), G)) {
    ops.emplace_back("gated_rmsnorm_out_proj_gemm",
                     [&] { cuda::gatedRmsNormGemm(y, zx, w.gatedNorm, G, c.normEps, w.outProj, w.outProjBias); });
    ops.emplace_back("gated_rmsnorm_out_proj_residual_gemm", [&] {
      cuda::gatedRmsNormGemmResidual(residual, y, zx, w.gatedNorm, G, c.normEps, w.outProj, w.outProjBias);
    });
  }
  nlohmann::json out = {{"batch", B}};
  for (auto& [name, op] : ops) {
    try {
      out["ops_us"][name] = inGraphMicros(op);
    } catch (const std::exception& e) {  // recorded, so one failing op does not end the run
      out["errors"][name] = e.what();
      out["ops_us"][name] = 0.0;
      (void)cudaGetLastError();
    }
  }
  // The ops one decode layer runs at this batch.
  const nlohmann::json& us = out["ops_us"];
  auto t = [&](const char* name) { return us[name].get<double>(); };
  double sum = t("ssm_step");
  const bool gemvOut = us.contains("gated_rmsnorm_out_proj_gemv");
  if (fusedGemm) {
    sum += t("rmsnorm_in_proj_conv_gemm") + t("gated_rmsnorm_out_proj_residual_gemm");
  } else if (fused) {
    sum += t("rmsnorm_in_proj_conv_gemv") + t("gated_rmsnorm_out_proj_residual_gemv");
  } else {
    sum += t("add_rmsnorm") + t("in_proj") + t("conv_step");
    sum += gemvOut ? t("gated_rmsnorm_out_proj_gemv") : t("gated_rmsnorm") + t("out_proj");
  }
  out["layer_sum_us"] = sum;
  out["lm_head_us"] = inGraphMicros([&] { F::linear(u, model.weights().lmHead); });
  out["model_sum_ms"] = (sum * static_cast<double>(c.nLayer) + out["lm_head_us"].get<double>()) / 1e3;
  // A batch decode splits into row blocks on their own streams: the blocks' layers timed at
  // their own sizes, and what running them one after another would take. The step's time
  // against it says how much the streams overlap.
  const int64_t parts = withParts && fused ? Mamba2Model::decodeParts(B) : 1;
  if (parts > 1) {
    double serialUs = out["lm_head_us"].get<double>();
    std::map<int64_t, double> layerSumByRows;  // blocks of equal size are timed once
    for (int64_t i = 0; i < parts; ++i) {
      const int64_t rows = B * (i + 1) / parts - B * i / parts;
      auto [it, fresh] = layerSumByRows.try_emplace(rows, 0.0);
      if (fresh) it->second = decodeBreakdown(model, pool, rows, false)["layer_sum_us"].get<double>();
      const double partSum = it->second;
      out["part_layer_sum_us"].push_back(partSum);
      serialUs += partSum * static_cast<double>(c.nLayer);
    }
    out["parts"] = parts;
    out["serial_parts_ms"] = serialUs / 1e3;
  }
  return out;
}

}  // namespace mamba::bench
