// loadCheckpoint(): format detection, tensor reading and shape validation.
#include <filesystem>
#include <fstream>
#include <map>

#include <torch/serialize.h>

#include "server/model/checkpoint.h"
#include "server/model/safetensors.h"
#include "server/model/safetensors_index.h"

namespace mamba {
namespace {

namespace fs = std::filesystem;

// A tensor as found in a checkpoint file, before conversion. `tensor` may alias a mapped file:
// it is valid only while the owning TensorSource lives.
struct SourceTensor {
  torch::Tensor tensor;
  std::string file;
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // All tensors, keyed by HF name (mamba_ssm's `backbone.embedding.` renamed to `embeddings.`).
  std::map<std::string, SourceTensor> tensors;
};

std::string canonicalName(const std::string& name) {
  const std::string from = "backbone.embedding.weight";
  if (name == from) return "backbone.embeddings.weight";
  return name;
}

StatusOr<torch::ScalarType> torchType(DType t, const std::string& file, const std::string& name) {
  switch (t) {
    case DType::kF32: return torch::kFloat32;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kF64: return torch::kFloat64;
    default:
      return invalidArgument(file + ": tensor '" + name + "' has dtype " + dtypeName(t) +
                             "; expected one of F32, F16, BF16, F64");
  }
}

class SafetensorsSource : public TensorSource {
 public:
  static StatusOr<std::unique_ptr<SafetensorsSource>> open(const std::string& dir) {
    auto src = std::make_unique<SafetensorsSource>();
    MAMBA_ASSIGN_OR_RETURN(src->ckpt_, SafetensorsCheckpoint::openDir(dir));
    for (const std::string& name : src->ckpt_->names()) {
      auto e = src->ckpt_->find(name);
      const TensorInfo& info = *e->info;
      const std::string& file = e->file->path();
      MAMBA_ASSIGN_OR_RETURN(torch::ScalarType st, torchType(info.dtype, file, name));
      auto bytes = e->file->bytes(info);
      // from_blob needs a mutable pointer; the tensor is only ever read (then copied by .to()).
      torch::Tensor t = torch::from_blob(const_cast<std::byte*>(bytes.data()), info.shape,
                                         torch::TensorOptions().dtype(st));
      src->tensors[canonicalName(name)] = {t, file};
    }
    return src;
  }

 private:
  std::unique_ptr<SafetensorsCheckpoint> ckpt_;
};

StatusOr<std::unique_ptr<TensorSource>> openPickle(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("cannot open " + path);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(data);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return dataLoss(path + ": not a readable PyTorch checkpoint: " + what.substr(0, what.find('\n')));
  }
  if (!value.isGenericDict()) return dataLoss(path + ": expected a state_dict (a dict of tensors)");
  auto src = std::make_unique<TensorSource>();
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString()) return dataLoss(path + ": state_dict has a non-string key");
    std::string name = item.key().toStringRef();
    if (!item.value().isTensor()) return dataLoss(path + ": entry '" + name + "' is not a tensor");
    src->tensors[canonicalName(name)] = {item.value().toTensor(), path};
  }
  return src;
}

std::string shapeString(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class WeightBinder {
 public:
  WeightBinder(TensorSource& src, const LoadOptions& opt) : src_(src), opt_(opt) {}

  // Takes `name` with the exact `shape`, converted to `dtype` on the target device.
  StatusOr<torch::Tensor> take(const std::string& name, std::vector<int64_t> shape,
                               std::optional<torch::ScalarType> dtype = std::nullopt) {
    auto it = src_.tensors.find(name);
    if (it == src_.tensors.end()) return notFound("checkpoint has no tensor '" + name + "' (expected shape " + shapeString(shape) + ")");
    used_.insert(name);
    const torch::Tensor& t = it->second.tensor;
    if (!t.is_floating_point()) {
      return invalidArgument(it->second.file + ": tensor '" + name + "' has non-float dtype " + std::string(c10::toString(t.scalar_type())));
    }
    if (t.sizes().vec() != shape) {
      return invalidArgument(it->second.file + ": tensor '" + name + "' has shape " + shapeString(t.sizes()) +
                             ", expected " + shapeString(shape) + " from config.json");
    }
    return t.to(opt_.device, dtype.value_or(opt_.dtype), /*non_blocking=*/false, /*copy=*/true).contiguous();
  }
  StatusOr<torch::Tensor> takeOptional(const std::string& name, bool present, std::vector<int64_t> shape) {
    if (!present) {
      if (src_.tensors.count(name)) return invalidArgument("checkpoint has tensor '" + name + "' but config.json disables it");
      return torch::Tensor();
    }
    return take(name, std::move(shape));
  }
  bool has(const std::string& name) const { return src_.tensors.count(name) > 0; }
  Status checkAllUsed() const {
    for (const auto& [name, t] : src_.tensors) {
      if (!used_.count(name)) return invalidArgument(t.file + ": unexpected tensor '" + name + "' (not part of the model described by config.json)");
    }
    return Status::ok();
  }

 private:
  TensorSource& src_;
  const LoadOptions& opt_;
  std::set<std::string> used_;
};

Status bindLayer(WeightBinder& b, const ModelConfig& c, int64_t i, LayerWeights& w) {
  const std::string p = "backbone.layers." + std::to_string(i) + ".";
  const int64_t n = c.stateSize(i);
  w.stateSize = n;
  MAMBA_ASSIGN_OR_RETURN(w.norm, b.take(p + "norm.weight", {c.dModel}));
  MAMBA_ASSIGN_OR_RETURN(w.inProj, b.take(p + "mixer.in_proj.weight", {c.inProjDim(i), c.dModel}));
  MAMBA_ASSIGN_OR_RETURN(w.inProjBias, b.takeOptional(p + "mixer.in_proj.bias", c.projBias, {c.inProjDim(i)}));
  MAMBA_ASSIGN_OR_RETURN(torch::Tensor conv, b.take(p + "mixer.conv1d.weight", {c.convDim(i), 1, c.convKernel}));
  w.convWeight = conv.reshape({c.convDim(i), c.convKernel}).contiguous();
  MAMBA_ASSIGN_OR_RETURN(w.convBias, b.takeOptional(p + "mixer.conv1d.bias", c.convBias, {c.convDim(i)}));
  MAMBA_ASSIGN_OR_RETURN(w.dtBias, b.take(p + "mixer.dt_bias", {c.nHeads}, torch::kFloat32));
  MAMBA_ASSIGN_OR_RETURN(w.aLog, b.take(p + "mixer.A_log", {c.nHeads}, torch::kFloat32));
  w.A = -torch::exp(w.aLog);
  MAMBA_ASSIGN_OR_RETURN(w.D, b.take(p + "mixer.D", {c.nHeads}, torch::kFloat32));
  MAMBA_ASSIGN_OR_RETURN(w.gatedNorm, b.take(p + "mixer.norm.weight", {c.dInner}));
  MAMBA_ASSIGN_OR_RETURN(w.outProj, b.take(p + "mixer.out_proj.weight", {c.dModel, c.dInner}));
  MAMBA_ASSIGN_OR_RETURN(w.outProjBias, b.takeOptional(p + "mixer.out_proj.bias", c.projBias, {c.dModel}));
  return Status::ok();
}

}  // namespace

StatusOr<LoadedCheckpoint> loadCheckpoint(const std::string& dir, const LoadOptions& options) {
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kBFloat16 && options.dtype != torch::kFloat16) {
    return invalidArgument("load dtype must be fp32, bf16 or fp16");
  }
  if (!fs::is_directory(dir)) return notFound("model directory not found: " + dir);
  const std::string configPath = (fs::path(dir) / "config.json").string();
  if (!fs::exists(configPath)) return notFound("missing config.json in " + dir);
  MAMBA_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::fromFile(configPath));

  std::unique_ptr<TensorSource> src;
  const fs::path d(dir);
  if (fs::exists(d / "model.safetensors") || fs::exists(d / "model.safetensors.index.json")) {
    MAMBA_ASSIGN_OR_RETURN(auto st, SafetensorsSource::open(dir));
    src = std::move(st);
  } else if (fs::exists(d / "pytorch_model.bin")) {
    MAMBA_ASSIGN_OR_RETURN(src, openPickle((d / "pytorch_model.bin").string()));
  } else {
    return notFound("no weights in " + dir + " (expected model.safetensors, model.safetensors.index.json or pytorch_model.bin)");
  }

  LoadedCheckpoint out;
  out.config = config;
  ModelWeights& w = out.weights;
  w.dtype = options.dtype;
  w.device = options.device;
  WeightBinder b(*src, options);
  try {
    MAMBA_ASSIGN_OR_RETURN(w.embedding, b.take("backbone.embeddings.weight", {config.vocabSize, config.dModel}));
    MAMBA_ASSIGN_OR_RETURN(w.normF, b.take("backbone.norm_f.weight", {config.dModel}));
    // Tied or missing lm_head: reuse the embedding (spec §2.2). A present lm_head of a tied
    // model (mamba_ssm saves both names) must match the embedding's shape and is ignored.
    if (b.has("lm_head.weight")) {
      MAMBA_ASSIGN_OR_RETURN(torch::Tensor head, b.take("lm_head.weight", {config.vocabSize, config.dModel}));
      w.lmHead = config.tieEmbeddings ? w.embedding : head;
    } else {
      w.lmHead = w.embedding;
    }
    w.layers.resize(static_cast<size_t>(config.nLayer));
    for (int64_t i = 0; i < config.nLayer; ++i) {
      MAMBA_RETURN_IF_ERROR(bindLayer(b, config, i, w.layers[static_cast<size_t>(i)]));
    }
    MAMBA_RETURN_IF_ERROR(b.checkAllUsed());
  } catch (const c10::Error& e) {
    return internalError(std::string("loading ") + dir + ": " + e.what_without_backtrace());
  }
  return out;
}

}  // namespace mamba
