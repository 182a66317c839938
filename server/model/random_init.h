// Random-weight models at the published shapes (for benchmarks and tests).
#pragma once

#include <string>

#include "server/common/status.h"
#include "server/model/checkpoint.h"

namespace mamba {

// "tiny" | "130m" | "370m" | "780m" | "1.3b" | "2.7b" (spec §1(c)); tiny is a 2-layer test model.
StatusOr<ModelConfig> presetConfig(const std::string& preset);

// Weights drawn like mamba_ssm's initialisation (normal(0, 0.02) projections, dt bias from a
// log-uniform dt in [1e-3, 1e-1], A in [1, 16], D = 1, unit norms), seeded, fp32 on CPU.
ModelWeights randomWeights(const ModelConfig& config, uint64_t seed);

// `weights` in `dtype` on `device`, as loadCheckpoint holds a checkpoint: the per-head vectors
// (dt_bias, A_log, A, D) stay fp32, every tensor is contiguous, and a tied lm_head stays tied.
ModelWeights castWeights(ModelWeights weights, torch::ScalarType dtype, torch::Device device);

}  // namespace mamba
