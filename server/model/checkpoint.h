// Reading and writing Mamba-2 checkpoints.
//
// Reads (spec §2): a Hugging Face directory (config.json + model.safetensors, or a sharded
// model.safetensors.index.json), a state-spaces mamba_ssm directory (config.json +
// pytorch_model.bin, parsed with LibTorch's pickle reader), or a mamba_ssm config with
// safetensors weights (what `mamba-tool convert` writes). Every tensor is checked against the
// config before use; errors name the file, the tensor and expected vs actual shape/dtype.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "server/common/status.h"
#include "server/model/model_config.h"
#include "server/model/model_weights.h"

namespace mamba {

struct LoadOptions {
  torch::ScalarType dtype = torch::kFloat32;  // fp32, bf16 or fp16
  torch::Device device = torch::kCPU;
};

struct LoadedCheckpoint {
  ModelConfig config;
  ModelWeights weights;
};

StatusOr<LoadedCheckpoint> loadCheckpoint(const std::string& dir, const LoadOptions& options);

// Writes an HF-format checkpoint (config.json + model.safetensors, tied lm_head omitted) that
// transformers' Mamba2ForCausalLM loads when the state sizes are uniform. Tensors are written
// in `dtype` (default: the weights' own dtype). Creates `dir` if needed.
Status saveHfCheckpoint(const ModelConfig& config, const ModelWeights& weights, const std::string& dir,
                        std::optional<torch::ScalarType> dtype = std::nullopt);

// "fp32" | "float32" | "bf16" | "bfloat16" | "fp16" | "float16".
StatusOr<torch::ScalarType> parseDTypeName(const std::string& name);
const char* dtypeShortName(torch::ScalarType t);

}  // namespace mamba
