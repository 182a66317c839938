#include "pruning/surgery.h"

namespace mamba::pruning {
namespace {

torch::Tensor indexTensor(const std::vector<int64_t>& v, torch::Device device) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong)).to(device);
}

// in_proj rows of the B and C entries of the states of layer l that `keep` selects (keep=true:
// the kept states, false: the pruned ones), B rows first, each group-major and ascending.
std::vector<int64_t> stateRows(const ModelConfig& c, int64_t l, const PruningPlan& plan, bool keep) {
  std::vector<int64_t> bRows, cRows;
  const int64_t N = c.stateSize(l);
  for (int64_t g = 0; g < c.nGroups; ++g) {
    const std::vector<int64_t>& kept = plan.kept[static_cast<size_t>(l)][static_cast<size_t>(g)];
    std::vector<bool> isKept(static_cast<size_t>(N), false);
    for (int64_t s : kept) isKept[static_cast<size_t>(s)] = true;
    for (int64_t s = 0; s < N; ++s) {
      if (isKept[static_cast<size_t>(s)] != keep) continue;
      bRows.push_back(inProjRowOfB(c, l, g, s));
      cRows.push_back(inProjRowOfC(c, l, g, s));
    }
  }
  bRows.insert(bRows.end(), cRows.begin(), cRows.end());
  return bRows;
}

std::vector<int64_t> minus(std::vector<int64_t> v, int64_t d) {
  for (int64_t& x : v) x -= d;
  return v;
}

}  // namespace

StatusOr<Variant> parseVariant(const std::string& name) {
  if (name == "masked") return Variant::kMasked;
  if (name == "compacted") return Variant::kCompacted;
  return invalidArgument("variant must be masked or compacted, got '" + name + "'");
}

const char* variantName(Variant v) { return v == Variant::kMasked ? "masked" : "compacted"; }

int64_t inProjRowOfB(const ModelConfig& c, int64_t l, int64_t g, int64_t s) {
  return 2 * c.dInner + g * c.stateSize(l) + s;
}

int64_t inProjRowOfC(const ModelConfig& c, int64_t l, int64_t g, int64_t s) {
  return 2 * c.dInner + c.nGroups * c.stateSize(l) + g * c.stateSize(l) + s;
}

Status validatePlan(const ModelConfig& c, const PruningPlan& plan) {
  if (plan.numLayers() != c.nLayer) {
    return invalidArgument("plan has " + std::to_string(plan.numLayers()) + " layers, model has " + std::to_string(c.nLayer));
  }
  for (int64_t l = 0; l < c.nLayer; ++l) {
    const auto& layer = plan.kept[static_cast<size_t>(l)];
    const std::string where = "plan layer " + std::to_string(l);
    if (static_cast<int64_t>(layer.size()) != c.nGroups) {
      return invalidArgument(where + ": " + std::to_string(layer.size()) + " groups, model has " + std::to_string(c.nGroups));
    }
    for (const auto& group : layer) {
      if (group.empty()) return invalidArgument(where + ": every group must keep at least one state");
      if (group.size() != layer[0].size()) return invalidArgument(where + ": groups keep different numbers of states");
      for (size_t i = 0; i < group.size(); ++i) {
        if (group[i] < 0 || group[i] >= c.stateSize(l)) {
          return invalidArgument(where + ": state " + std::to_string(group[i]) + " out of range [0, " + std::to_string(c.stateSize(l)) + ")");
        }
        if (i > 0 && group[i] <= group[i - 1]) return invalidArgument(where + ": kept states must be ascending and unique");
      }
    }
  }
  return Status::ok();
}

StatusOr<ModelWeights> maskStates(const ModelConfig& c, const ModelWeights& weights, const PruningPlan& plan) {
  MAMBA_RETURN_IF_ERROR(validatePlan(c, plan));
  torch::NoGradGuard noGrad;
  ModelWeights out = weights;
  for (int64_t l = 0; l < c.nLayer; ++l) {
    LayerWeights& w = out.layers[static_cast<size_t>(l)];
    const std::vector<int64_t> rows = stateRows(c, l, plan, /*keep=*/false);
    if (rows.empty()) continue;
    torch::Tensor idx = indexTensor(rows, w.inProj.device());
    torch::Tensor ch = idx - c.dInner;
    w.inProj = w.inProj.clone().index_fill_(0, idx, 0);
    if (w.inProjBias.defined()) w.inProjBias = w.inProjBias.clone().index_fill_(0, idx, 0);
    w.convWeight = w.convWeight.clone().index_fill_(0, ch, 0);
    if (w.convBias.defined()) w.convBias = w.convBias.clone().index_fill_(0, ch, 0);
  }
  return out;
}

StatusOr<PrunedModel> compactStates(const ModelConfig& c, const ModelWeights& weights, const PruningPlan& plan) {
  MAMBA_RETURN_IF_ERROR(validatePlan(c, plan));
  torch::NoGradGuard noGrad;
  PrunedModel out{c, weights};
  out.config.stateSizes = plan.stateSizes();
  const int64_t Di = c.dInner;
  for (int64_t l = 0; l < c.nLayer; ++l) {
    LayerWeights& w = out.weights.layers[static_cast<size_t>(l)];
    const int64_t N = c.stateSize(l);
    std::vector<int64_t> rows;  // z | x | kept B | kept C | dt
    for (int64_t r = 0; r < 2 * Di; ++r) rows.push_back(r);
    const std::vector<int64_t> states = stateRows(c, l, plan, /*keep=*/true);
    rows.insert(rows.end(), states.begin(), states.end());
    for (int64_t r = 2 * Di + 2 * c.nGroups * N; r < c.inProjDim(l); ++r) rows.push_back(r);
    std::vector<int64_t> channels(rows.begin() + Di, rows.begin() + Di + Di + static_cast<int64_t>(states.size()));
    torch::Tensor rIdx = indexTensor(rows, w.inProj.device());
    torch::Tensor cIdx = indexTensor(minus(channels, Di), w.convWeight.device());
    w.stateSize = plan.stateSizes()[static_cast<size_t>(l)];
    w.inProj = w.inProj.index_select(0, rIdx).contiguous();
    if (w.inProjBias.defined()) w.inProjBias = w.inProjBias.index_select(0, rIdx).contiguous();
    w.convWeight = w.convWeight.index_select(0, cIdx).contiguous();
    if (w.convBias.defined()) w.convBias = w.convBias.index_select(0, cIdx).contiguous();
  }
  MAMBA_RETURN_IF_ERROR(out.config.validate());
  return out;
}

StatusOr<PrunedModel> applyPlan(const ModelConfig& c, const ModelWeights& weights, const PruningPlan& plan, Variant v) {
  if (v == Variant::kCompacted) return compactStates(c, weights, plan);
  MAMBA_ASSIGN_OR_RETURN(ModelWeights masked, maskStates(c, weights, plan));
  return PrunedModel{c, std::move(masked)};
}

}  // namespace mamba::pruning
