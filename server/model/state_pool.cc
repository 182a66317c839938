#include "server/model/state_pool.h"

#include <algorithm>
#include <stdexcept>

#ifdef MAMBA_HAVE_CUDA_KERNELS
#include "kernels/torch/cuda_ops.h"
#endif

namespace mamba {

StatePool::StatePool(const ModelConfig& c, int64_t numSlots, torch::Device device, torch::ScalarType ssmStateDtype)
    : numSlots_(numSlots), device_(device) {
  if (numSlots <= 0) throw StatusError(invalidArgument("state pool needs at least one slot"));
  if (ssmStateDtype != torch::kFloat32 && ssmStateDtype != torch::kBFloat16) {
    throw StatusError(invalidArgument("the SSM state dtype must be fp32 or bf16"));
  }
  auto opt = torch::TensorOptions().device(device).dtype(torch::kFloat32);
  for (int64_t l = 0; l < c.nLayer; ++l) {
    conv_.push_back(torch::zeros({numSlots, c.convDim(l), c.convKernel}, opt));
    ssm_.push_back(torch::zeros({numSlots, c.nHeads, c.headDim, c.stateSize(l)}, opt.dtype(ssmStateDtype)));
  }
  bytesPerSequence_ = c.stateBytesPerSequence(c10::elementSize(ssmStateDtype), sizeof(float));
  inUse_.assign(static_cast<size_t>(numSlots), false);
  for (int64_t s = numSlots - 1; s >= 0; --s) free_.push_back(static_cast<int32_t>(s));
}

std::optional<int32_t> StatePool::acquire() {
  if (free_.empty()) return std::nullopt;
  int32_t s = free_.back();
  free_.pop_back();
  inUse_[static_cast<size_t>(s)] = true;
  reset(s);
  return s;
}

void StatePool::release(int32_t slot) {
  if (slot < 0 || slot >= numSlots_ || !inUse_[static_cast<size_t>(slot)]) {
    throw StatusError(internalError("release of a slot not in use: " + std::to_string(slot)));
  }
  inUse_[static_cast<size_t>(slot)] = false;
  free_.push_back(slot);
}

void StatePool::reset(int32_t slot) {
#ifdef MAMBA_HAVE_CUDA_KERNELS
  // One launch for every layer (48 zero_() ops took ~0.3 ms of host time per request on the
  // path to its first token: H200 server, 130m, MAMBA_STEP_PROFILE).
  if (device_.is_cuda() && conv_.size() + ssm_.size() <= static_cast<size_t>(cuda::kZeroSlotMaxPools)) {
    std::vector<torch::Tensor> pools(conv_.begin(), conv_.end());
    pools.insert(pools.end(), ssm_.begin(), ssm_.end());
    cuda::zeroSlot(pools, slot);
    return;
  }
#endif
  for (auto& t : conv_) t[slot].zero_();
  for (auto& t : ssm_) t[slot].zero_();
}

}  // namespace mamba
