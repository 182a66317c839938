#include "pruning/selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mamba::pruning {
namespace {

// State indices of group g ordered best first: score descending, then index ascending.
std::vector<int64_t> rankGroup(const LayerScores& l, int64_t g) {
  std::vector<int64_t> order(static_cast<size_t>(l.stateSize));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l.at(g, a) > l.at(g, b); });
  return order;
}

// The first k of each group's ranking, each sorted ascending.
std::vector<std::vector<int64_t>> keepTop(const LayerScores& l, int64_t k) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t g = 0; g < l.groups; ++g) {
    std::vector<int64_t> order = rankGroup(l, g);
    order.resize(static_cast<size_t>(k));
    std::sort(order.begin(), order.end());
    out.push_back(std::move(order));
  }
  return out;
}

Status validate(const ScoreTable& scores, double ratio) {
  if (!(ratio >= 0.0 && ratio < 1.0)) return invalidArgument("ratio must be in [0, 1), got " + std::to_string(ratio));
  if (scores.empty()) return invalidArgument("no layers in the score table");
  for (size_t l = 0; l < scores.size(); ++l) {
    const LayerScores& s = scores[l];
    if (s.groups < 1 || s.stateSize < 1 || s.values.size() != static_cast<size_t>(s.groups * s.stateSize)) {
      return invalidArgument("layer " + std::to_string(l) + ": malformed score table");
    }
    for (double v : s.values) {
      if (!std::isfinite(v)) return invalidArgument("layer " + std::to_string(l) + ": non-finite score");
    }
  }
  return Status::ok();
}

}  // namespace

StatusOr<SelectionMode> parseSelectionMode(const std::string& name) {
  if (name == "per-layer") return SelectionMode::kPerLayer;
  if (name == "global") return SelectionMode::kGlobal;
  return invalidArgument("mode must be per-layer or global, got '" + name + "'");
}

const char* selectionModeName(SelectionMode mode) {
  return mode == SelectionMode::kPerLayer ? "per-layer" : "global";
}

std::vector<int64_t> PruningPlan::stateSizes() const {
  std::vector<int64_t> n;
  for (const auto& layer : kept) n.push_back(static_cast<int64_t>(layer.at(0).size()));
  return n;
}

int64_t PruningPlan::keptStates() const {
  int64_t total = 0;
  for (const auto& layer : kept) {
    for (const auto& group : layer) total += static_cast<int64_t>(group.size());
  }
  return total;
}

PruningPlan PruningPlan::keepAll(int64_t groups, const std::vector<int64_t>& stateSizes) {
  PruningPlan p;
  for (int64_t n : stateSizes) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    p.kept.emplace_back(static_cast<size_t>(groups), all);
  }
  return p;
}

int64_t keepCount(int64_t stateSize, double ratio) {
  const double k = std::floor(static_cast<double>(stateSize) * (1.0 - ratio) + 1e-9);
  return std::clamp<int64_t>(static_cast<int64_t>(k), 1, stateSize);
}

StatusOr<PruningPlan> selectStates(const ScoreTable& scores, double ratio, SelectionMode mode) {
  MAMBA_RETURN_IF_ERROR(validate(scores, ratio));
  PruningPlan plan;
  if (mode == SelectionMode::kPerLayer) {
    for (const LayerScores& l : scores) plan.kept.push_back(keepTop(l, keepCount(l.stateSize, ratio)));
    return plan;
  }

  // Global: per-layer normalized level values, then one ranking over (layer, level >= 1).
  struct Level {
    double value;
    int64_t layer, level;
  };
  std::vector<Level> levels;
  int64_t budget = 0;
  const int64_t L = static_cast<int64_t>(scores.size());
  for (int64_t li = 0; li < L; ++li) {
    const LayerScores& l = scores[static_cast<size_t>(li)];
    budget += keepCount(l.stateSize, ratio);
    const double mean = std::accumulate(l.values.begin(), l.values.end(), 0.0) / static_cast<double>(l.values.size());
    const bool degenerate = !(mean > 0.0);
    std::vector<double> levelValue(static_cast<size_t>(l.stateSize), 0.0);
    for (int64_t g = 0; g < l.groups; ++g) {
      std::vector<int64_t> order = rankGroup(l, g);
      for (int64_t k = 0; k < l.stateSize; ++k) {
        levelValue[static_cast<size_t>(k)] += degenerate ? 1.0 : l.at(g, order[static_cast<size_t>(k)]) / mean;
      }
    }
    for (int64_t k = 1; k < l.stateSize; ++k) {
      levels.push_back({levelValue[static_cast<size_t>(k)] / static_cast<double>(l.groups), li, k});
    }
  }
  std::stable_sort(levels.begin(), levels.end(), [](const Level& a, const Level& b) {
    if (a.value != b.value) return a.value > b.value;
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.level < b.level;
  });
  // Level values fall (weakly) with k inside a layer and ties go to the lower level, so the
  // chosen levels of each layer form a prefix: counting them gives the layer's N_i.
  std::vector<int64_t> count(static_cast<size_t>(L), 1);
  const int64_t extra = std::max<int64_t>(0, budget - L);
  for (int64_t i = 0; i < extra && i < static_cast<int64_t>(levels.size()); ++i) {
    ++count[static_cast<size_t>(levels[static_cast<size_t>(i)].layer)];
  }
  for (int64_t li = 0; li < L; ++li) plan.kept.push_back(keepTop(scores[static_cast<size_t>(li)], count[static_cast<size_t>(li)]));
  return plan;
}

}  // namespace mamba::pruning
