// Per-sequence recurrent state of every layer, for a fixed number of slots.
//
// A sequence owns one slot from admission to completion; the batched decode step indexes the
// pool by slot ids, so no state is gathered or copied per step. The conv window is fp32; the
// SSM state is fp32 by default (more accurate than the references' model-dtype caches, spec §5)
// or bf16 (half the bytes per sequence; arithmetic stays fp32, values are rounded on store).
//
// Threading: not thread-safe. One owner (the scheduler thread) acquires/releases slots and runs
// the model steps that mutate them.
#pragma once

#include <optional>
#include <vector>

#include <torch/torch.h>

#include "server/model/model_config.h"

namespace mamba {

class StatePool {
 public:
  StatePool(const ModelConfig& config, int64_t numSlots, torch::Device device,
            torch::ScalarType ssmStateDtype = torch::kFloat32);

  int64_t numSlots() const { return numSlots_; }
  int64_t numLayers() const { return static_cast<int64_t>(conv_.size()); }
  torch::Tensor& conv(int64_t layer) { return conv_[static_cast<size_t>(layer)]; }  // (S, CD_i, K), newest input last
  torch::Tensor& ssm(int64_t layer) { return ssm_[static_cast<size_t>(layer)]; }    // (S, H, P, N_i)
  torch::Device device() const { return device_; }

  // Takes a free slot (its state zeroed); nullopt when all slots are in use.
  std::optional<int32_t> acquire();
  void release(int32_t slot);
  int64_t used() const { return numSlots_ - static_cast<int64_t>(free_.size()); }
  // Zeroes the slot's state in every layer.
  void reset(int32_t slot);
  // Bytes of state held per slot (all layers).
  int64_t bytesPerSequence() const { return bytesPerSequence_; }

 private:
  int64_t numSlots_;
  torch::Device device_;
  std::vector<torch::Tensor> conv_, ssm_;
  std::vector<int32_t> free_;
  std::vector<bool> inUse_;
  int64_t bytesPerSequence_ = 0;
};

}  // namespace mamba
