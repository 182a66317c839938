// saveHfCheckpoint() and dtype names.
#include <filesystem>
#include <fstream>

#include "server/model/checkpoint.h"
#include "server/model/safetensors.h"

namespace mamba {
namespace {

StatusOr<DType> safetensorsType(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return DType::kF32;
    case torch::kFloat16: return DType::kF16;
    case torch::kBFloat16: return DType::kBF16;
    default: return invalidArgument(std::string("cannot write dtype ") + c10::toString(t));
  }
}

}  // namespace

StatusOr<torch::ScalarType> parseDTypeName(const std::string& name) {
  if (name == "fp32" || name == "float32") return torch::kFloat32;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  if (name == "fp16" || name == "float16") return torch::kFloat16;
  return invalidArgument("dtype must be fp32, bf16 or fp16, got '" + name + "'");
}

const char* dtypeShortName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "fp32";
    case torch::kBFloat16: return "bf16";
    case torch::kFloat16: return "fp16";
    default: return "other";
  }
}

Status saveHfCheckpoint(const ModelConfig& config, const ModelWeights& weights, const std::string& dir,
                        std::optional<torch::ScalarType> dtype) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return invalidArgument("cannot create directory " + dir + ": " + ec.message());
  const torch::ScalarType outType = dtype.value_or(weights.dtype);
  MAMBA_ASSIGN_OR_RETURN(DType stType, safetensorsType(outType));

  std::vector<torch::Tensor> keep;  // owns the CPU copies the views point into
  std::vector<TensorView> views;
  auto add = [&](const std::string& name, const torch::Tensor& t, std::vector<int64_t> shape, bool fp32 = false) {
    if (!t.defined()) return;
    torch::Tensor c = t.to(torch::kCPU, fp32 ? torch::kFloat32 : outType).contiguous();
    keep.push_back(c);
    views.push_back({name, fp32 ? DType::kF32 : stType, std::move(shape), c.data_ptr()});
  };
  add("backbone.embeddings.weight", weights.embedding, weights.embedding.sizes().vec());
  add("backbone.norm_f.weight", weights.normF, weights.normF.sizes().vec());
  if (!config.tieEmbeddings) add("lm_head.weight", weights.lmHead, weights.lmHead.sizes().vec());
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    const LayerWeights& l = weights.layers[i];
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    add(p + "norm.weight", l.norm, l.norm.sizes().vec());
    add(p + "mixer.in_proj.weight", l.inProj, l.inProj.sizes().vec());
    add(p + "mixer.in_proj.bias", l.inProjBias, l.inProjBias.defined() ? l.inProjBias.sizes().vec() : std::vector<int64_t>{});
    add(p + "mixer.conv1d.weight", l.convWeight, {l.convWeight.size(0), 1, l.convWeight.size(1)});
    add(p + "mixer.conv1d.bias", l.convBias, l.convBias.defined() ? l.convBias.sizes().vec() : std::vector<int64_t>{});
    add(p + "mixer.dt_bias", l.dtBias, l.dtBias.sizes().vec(), true);
    add(p + "mixer.A_log", l.aLog, l.aLog.sizes().vec(), true);
    add(p + "mixer.D", l.D, l.D.sizes().vec(), true);
    add(p + "mixer.norm.weight", l.gatedNorm, l.gatedNorm.sizes().vec());
    add(p + "mixer.out_proj.weight", l.outProj, l.outProj.sizes().vec());
    add(p + "mixer.out_proj.bias", l.outProjBias, l.outProjBias.defined() ? l.outProjBias.sizes().vec() : std::vector<int64_t>{});
  }
  MAMBA_RETURN_IF_ERROR(writeSafetensors((fs::path(dir) / "model.safetensors").string(), views, {{"format", "pt"}}));
  std::ofstream cfg(fs::path(dir) / "config.json");
  cfg << config.toHfJson() << "\n";
  if (!cfg) return internalError("cannot write " + (fs::path(dir) / "config.json").string());
  return Status::ok();
}

}  // namespace mamba
