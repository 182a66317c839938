// The tensors of a loaded Mamba-2 model, already in the serving dtype and device.
//
// Immutable after loading: a model is shared (read-only) by every request and variant that
// uses it, from any thread. Shapes use the spec's symbols (Dm, Di, H, P, G, K, N_i, Vp).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "server/model/model_config.h"

namespace mamba {

struct LayerWeights {
  int64_t stateSize = 0;    // N_i
  torch::Tensor norm;       // (Dm)            model dtype
  torch::Tensor inProj;     // (2Di+2GN_i+H, Dm) model dtype; rows [z | x | B | C | dt]
  torch::Tensor inProjBias; // (2Di+2GN_i+H) or undefined
  torch::Tensor convWeight; // (Di+2GN_i, K)   model dtype; channels [x | B | C]
  torch::Tensor convBias;   // (Di+2GN_i) or undefined
  torch::Tensor dtBias;     // (H) fp32
  torch::Tensor aLog;       // (H) fp32, as stored
  torch::Tensor A;          // (H) fp32, -exp(aLog)
  torch::Tensor D;          // (H) fp32
  torch::Tensor gatedNorm;  // (Di) model dtype
  torch::Tensor outProj;    // (Dm, Di) model dtype
  torch::Tensor outProjBias;// (Dm) or undefined
};

struct ModelWeights {
  torch::Tensor embedding;  // (Vp, Dm) model dtype
  torch::Tensor normF;      // (Dm)
  torch::Tensor lmHead;     // (Vp, Dm); the same storage as embedding when tied
  std::vector<LayerWeights> layers;
  torch::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
};

}  // namespace mamba
