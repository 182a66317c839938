// Applying a PruningPlan to a model's weights (spec §7): the two variants.
//
// masked: shapes unchanged. For every pruned state (g, s) the B and C rows of in_proj (and of
//   in_proj.bias), the B and C conv1d weight rows **and** the conv biases are zeroed. The conv
//   output of those channels is then exactly 0 and SiLU(0) = 0, so B_s ≡ C_s ≡ 0: the state
//   is never written and never read. Zeroing only the in_proj row would leave SiLU(bias) ≠ 0
//   (spec §7.5). Compute and memory equal the dense model's.
// compacted: the pruned states are physically removed (in_proj rows, conv channels and bias
//   entries), kept states stay in original order, each layer gets its own N_i. The state cache
//   shrinks to (H, P, N_i) per layer and the scan does fewer FLOPs.
//
// No bridge or adapter layer is needed for either: the SSM is diagonal in the state index
// (A is a scalar per head), and the output y_t = Σ_s C_{t,s}·h_{t,s} + D·x_t contracts the
// state dimension, so y keeps its (H, P) shape whatever N_i is. The gated norm, out_proj,
// A_log, dt_bias and D never see N and are untouched. Masked and compacted models therefore
// compute the same function (to fp32 round-off).
//
// Both functions leave the input weights untouched (new tensors for every changed layer
// tensor; the embedding, norms and lm_head are shared with the input).
#pragma once

#include <string>

#include "pruning/selection.h"
#include "server/model/model_config.h"
#include "server/model/model_weights.h"

namespace mamba::pruning {

enum class Variant { kMasked, kCompacted };
StatusOr<Variant> parseVariant(const std::string& name);  // "masked" | "compacted"
const char* variantName(Variant v);

// Checks that `plan` fits `config`: one entry per layer, G groups each, the same count in
// every group, indices ascending, unique and in [0, N_l).
Status validatePlan(const ModelConfig& config, const PruningPlan& plan);

StatusOr<ModelWeights> maskStates(const ModelConfig& config, const ModelWeights& weights, const PruningPlan& plan);

struct PrunedModel {
  ModelConfig config;
  ModelWeights weights;
};

StatusOr<PrunedModel> compactStates(const ModelConfig& config, const ModelWeights& weights, const PruningPlan& plan);

// Either variant.
StatusOr<PrunedModel> applyPlan(const ModelConfig& config, const ModelWeights& weights, const PruningPlan& plan,
                                Variant variant);

// The index arithmetic of spec §7.2 (d_mlp = 0): in_proj row of B(g, s) = 2·Di + g·N + s, of
// C(g, s) = 2·Di + G·N + g·N + s; conv channel = in_proj row − Di.
int64_t inProjRowOfB(const ModelConfig& config, int64_t layer, int64_t g, int64_t s);
int64_t inProjRowOfC(const ModelConfig& config, int64_t layer, int64_t g, int64_t s);

}  // namespace mamba::pruning
