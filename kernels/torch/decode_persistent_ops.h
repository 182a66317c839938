// LibTorch adapter for the persistent small-batch decode (kernels/decode_persistent): all layers
// of one decode step in one launch. Validates every layer's tensors, then launches on the
// current CUDA stream (graph-capturable: no host sync; allocates only its workspace).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace mamba::cuda {

// One layer's tensors, as the model and the state pool hold them (spec §3 names).
struct PersistentDecodeLayerTensors {
  torch::Tensor norm;        // (Dm) of the weights' dtype
  torch::Tensor inProj;      // (>= DIP, Dm), rows past DIP ignored (the model pads them to a multiple of 8)
  torch::Tensor inProjBias;  // (>= DIP) or undefined
  torch::Tensor convState;   // (S, CD, Kc) fp32, stepped in place
  torch::Tensor convWeight;  // (CD, Kc) fp32
  torch::Tensor convBias;    // (CD) fp32 or undefined
  torch::Tensor ssmState;    // (S, H, P, N) fp32, stepped in place
  torch::Tensor dtBias, A, D;  // (H) fp32
  torch::Tensor gatedNorm;   // (Di) of the weights' dtype
  torch::Tensor outProj;     // (Dm, Di)
  torch::Tensor outProjBias; // (Dm) or undefined
};

struct PersistentDecodeShape {
  int64_t dModel = 0, dInner = 0, nHeads = 0, headDim = 0, nGroups = 1, convKernel = 0;
  double eps = 1e-5, dtMin = 0.0, dtMax = 0.0;  // dtMax: +inf for no upper clamp
};

// Empty when persistentDecode takes `batch` rows over these layers on this device; otherwise
// why not (unsupported dtype or shape, too many layers, the slices exceed shared memory at
// `grid` CTAs; 0 = one per SM).
std::string persistentDecodeUnsupported(int64_t batch, const PersistentDecodeShape& shape,
                                        const std::vector<PersistentDecodeLayerTensors>& layers, int64_t grid = 0);

// Advances residual (B, Dm) fp32 in place through every layer (the residual stream after the
// last layer's out_proj, before norm_f), stepping each layer's conv and SSM state at `slots`
// (B) int32 (-1: padding row, no state touched). barrier: (kGridBarrierWords = 64) int32 on the device, zero before
// its first use, reused by every call of one model; calls sharing it must be stream-ordered.
// grid > 0 limits the CTAs (tests); 0 = one per SM.
void persistentDecode(torch::Tensor& residual, const torch::Tensor& slots,
                      const std::vector<PersistentDecodeLayerTensors>& layers, const PersistentDecodeShape& shape,
                      torch::Tensor& barrier, int64_t grid = 0);

}  // namespace mamba::cuda
