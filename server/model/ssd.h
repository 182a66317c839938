// The chunked SSD scan (spec §4.4) from batched LibTorch ops, and the gated RMSNorm.
//
// Exact for any length L >= 1 (L is padded to a multiple of the chunk size internally, padded
// steps get dt = 0: no decay, no input). All math in fp32.
#pragma once

#include <utility>

#include <torch/torch.h>

namespace mamba {

struct SsdResult {
  torch::Tensor y;           // (B, L, H, P) fp32, D*x included
  torch::Tensor finalState;  // (B, H, P, N) fp32
};

// x: (B, L, H, P) fp32; dt: (B, L, H) fp32 (softplus and clamp applied; 0 where a sequence
// is padded); A: (H) fp32; Bm, Cm: (B, L, G, N) fp32; D: (H) fp32; initialState: (B, H, P, N)
// fp32 or undefined (zeros). Head h reads group h / (H / G).
SsdResult ssdChunkScan(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                       const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& D,
                       int64_t chunkSize, const torch::Tensor& initialState);

// Naive per-token recurrence of spec §4.2 step 5 (for tests): same contract as ssdChunkScan.
SsdResult ssdReferenceScan(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                           const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& D,
                           const torch::Tensor& initialState);

// out = RMSNorm_groups(y * silu(z)) * weight, over groups of Di/G channels, computed in fp32.
// y: (..., Di) any float dtype; z: (..., Di); weight: (Di). Returns `outDtype`.
torch::Tensor gatedRmsNorm(const torch::Tensor& y, const torch::Tensor& z, const torch::Tensor& weight,
                           int64_t groups, double eps, torch::ScalarType outDtype);

// RMSNorm over the last dim in fp32, times weight, rounded once to `outDtype`.
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::ScalarType outDtype);

}  // namespace mamba
