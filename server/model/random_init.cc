#include "server/model/random_init.h"

#include <cmath>

namespace mamba {

StatusOr<ModelConfig> presetConfig(const std::string& preset) {
  struct Shape { const char* name; int64_t dModel, nLayer; };
  static const Shape kShapes[] = {
      {"tiny", 64, 2}, {"130m", 768, 24}, {"370m", 1024, 48}, {"780m", 1536, 48}, {"1.3b", 2048, 48}, {"2.7b", 2560, 64}};
  for (const Shape& s : kShapes) {
    if (preset != s.name) continue;
    ModelConfig c;
    const bool tiny = preset == "tiny";
    c.dModel = s.dModel;
    c.nLayer = s.nLayer;
    c.dInner = 2 * s.dModel;
    c.headDim = tiny ? 16 : 64;
    c.nHeads = c.dInner / c.headDim;
    c.nGroups = 1;
    c.convKernel = 4;
    c.chunkSize = tiny ? 16 : 256;
    c.stateSizes.assign(static_cast<size_t>(c.nLayer), tiny ? 16 : 128);
    c.vocabSize = tiny ? 512 : 50288;
    c.rawVocabSize = tiny ? 512 : 50277;
    c.tieEmbeddings = true;
    c.eosTokenId = 0;
    c.bosTokenId = 0;
    c.padTokenId = 0;
    MAMBA_RETURN_IF_ERROR(c.validate());
    return c;
  }
  return invalidArgument("unknown preset '" + preset + "' (tiny, 130m, 370m, 780m, 1.3b, 2.7b)");
}

ModelWeights randomWeights(const ModelConfig& c, uint64_t seed) {
  torch::NoGradGuard noGrad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto normal = [&](std::vector<int64_t> shape, double std) {
    return at::normal(0.0, std, shape, gen);
  };
  auto uniform = [&](std::vector<int64_t> shape, double lo, double hi) {
    return torch::empty(shape).uniform_(lo, hi, gen);
  };
  ModelWeights w;
  w.embedding = normal({c.vocabSize, c.dModel}, 0.02);
  w.normF = torch::ones({c.dModel});
  w.lmHead = c.tieEmbeddings ? w.embedding : normal({c.vocabSize, c.dModel}, 0.02);
  for (int64_t i = 0; i < c.nLayer; ++i) {
    LayerWeights l;
    l.stateSize = c.stateSize(i);
    l.norm = torch::ones({c.dModel});
    l.inProj = normal({c.inProjDim(i), c.dModel}, 0.02);
    if (c.projBias) l.inProjBias = torch::zeros({c.inProjDim(i)});
    const double bound = 1.0 / std::sqrt(static_cast<double>(c.convKernel));
    l.convWeight = uniform({c.convDim(i), c.convKernel}, -bound, bound);
    if (c.convBias) l.convBias = uniform({c.convDim(i)}, -bound, bound);
    torch::Tensor dt = torch::exp(uniform({c.nHeads}, std::log(1e-3), std::log(1e-1))).clamp_min(1e-4);
    l.dtBias = dt + torch::log(-torch::expm1(-dt));  // inverse softplus
    l.aLog = torch::log(uniform({c.nHeads}, 1.0, 16.0));
    l.A = -torch::exp(l.aLog);
    l.D = torch::ones({c.nHeads});
    l.gatedNorm = torch::ones({c.dInner});
    l.outProj = normal({c.dModel, c.dInner}, 0.02 / std::sqrt(2.0 * static_cast<double>(c.nLayer)));
    if (c.projBias) l.outProjBias = torch::zeros({c.dModel});
    w.layers.push_back(std::move(l));
  }
  return w;
}

ModelWeights castWeights(ModelWeights w, torch::ScalarType dtype, torch::Device device) {
  const bool tied = w.lmHead.defined() && w.lmHead.is_same(w.embedding);
  auto to = [&](torch::Tensor& t, torch::ScalarType type) {
    if (t.defined()) t = t.to(device, type).contiguous();
  };
  to(w.embedding, dtype);
  to(w.normF, dtype);
  if (tied) {
    w.lmHead = w.embedding;
  } else {
    to(w.lmHead, dtype);
  }
  for (LayerWeights& l : w.layers) {
    for (torch::Tensor* t : {&l.norm, &l.inProj, &l.inProjBias, &l.convWeight, &l.convBias, &l.gatedNorm, &l.outProj,
                             &l.outProjBias}) {
      to(*t, dtype);
    }
    for (torch::Tensor* t : {&l.dtBias, &l.aLog, &l.A, &l.D}) to(*t, torch::kFloat32);
  }
  w.dtype = dtype;
  w.device = device;
  return w;
}

}  // namespace mamba
