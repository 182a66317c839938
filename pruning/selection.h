// Choosing which SSM states to keep, from per-state scores and a pruning ratio. Torch-free.
//
// Both modes keep, in every layer, the same number of states in each group (both checkpoint
// formats require it, spec §7.2) and at least one. Ties are broken deterministically: on equal
// scores the lower state index (and in global mode then the lower layer) is kept first.
//
// kPerLayer (the paper's Algorithm 1): layer l keeps k_l = max(1, floor(N_l·(1−r))) states per
//   group: the k_l highest-scoring states of each group.
// kGlobal: layers compete for one budget of T = Σ_l max(1, floor(N_l·(1−r))) states per group
//   (so the total equals the per-layer mode's). Scores are first normalized per layer by
//   dividing by the layer's mean score over all its G·N_l states, which puts layers whose raw
//   scores differ in scale (deeper layers often have larger activations) on one footing; a
//   layer whose mean is not positive counts all its states as 1. The k-th best level of a layer
//   is worth the mean over its groups of each group's k-th largest normalized score. Every
//   layer keeps its first level; the remaining T − L levels go to the highest-valued levels of
//   all layers (ties: lower layer, then lower level). Layers end with different N_i.
// Kept indices are listed in ascending (original) order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pruning/state_scores.h"
#include "server/common/status.h"

namespace mamba::pruning {

enum class SelectionMode { kPerLayer, kGlobal };

StatusOr<SelectionMode> parseSelectionMode(const std::string& name);  // "per-layer" | "global"
const char* selectionModeName(SelectionMode mode);

struct PruningPlan {
  // kept[l][g]: kept state indices of group g of layer l, ascending; the same count in every
  // group of a layer, at least 1.
  std::vector<std::vector<std::vector<int64_t>>> kept;

  int64_t numLayers() const { return static_cast<int64_t>(kept.size()); }
  // N_i' per layer.
  std::vector<int64_t> stateSizes() const;
  // Total kept states over all layers and groups.
  int64_t keptStates() const;
  // The identity plan: every state of every layer kept.
  static PruningPlan keepAll(int64_t groups, const std::vector<int64_t>& stateSizes);
};

// max(1, floor(N·(1−r))), with a 1e-9 guard so that e.g. 100·(1−0.9) counts as 10, not 9.
int64_t keepCount(int64_t stateSize, double ratio);

// Errors: ratio outside [0, 1), an empty table, or a non-finite score.
StatusOr<PruningPlan> selectStates(const ScoreTable& scores, double ratio, SelectionMode mode);

}  // namespace mamba::pruning
