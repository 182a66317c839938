// An optional read-only view of each mixer's SSM inputs during a prefill, for analysis tools
// (the pruning calibration in pruning/calibration.h). Mamba2Model::prefill calls the observer
// only when one is passed; without one nothing extra is computed, copied or allocated (one
// null-pointer test per layer).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mamba {

// The tensors of one layer for the whole (right-padded) prefill batch, exactly as the scan
// consumes them (spec §4.2). Views into the forward's buffers: valid only during the callback.
struct MixerTrace {
  int64_t layer = 0;
  torch::Tensor x;             // (B, L, H, P) fp32, after conv + SiLU
  torch::Tensor dt;            // (B, L, H) fp32, after softplus and the dt clamp; 0 at padded steps
  torch::Tensor A;             // (H) fp32, -exp(A_log)
  torch::Tensor B;             // (B, L, G, N_l) fp32, after conv + SiLU
  torch::Tensor C;             // (B, L, G, N_l) fp32, after conv + SiLU
  torch::Tensor initialState;  // (B, H, P, N_l) fp32: the state entering this call (zeros when fresh)
  torch::Tensor lengths;       // (B) int64: real tokens of each sequence; later positions are padding
};

class MixerObserver {
 public:
  virtual ~MixerObserver() = default;
  // Called once per layer, in layer order, on the prefill's thread, before the SSM scan of
  // that layer. Must not modify the tensors; copy whatever must outlive the call.
  virtual void onMixer(const MixerTrace& trace) = 0;
};

}  // namespace mamba
