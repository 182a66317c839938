// LibTorch adapters for the CUDA kernels: validate dtype, device, shape and stride, then launch
// on the current CUDA stream (capturable into CUDA graphs: no host sync, no allocation besides
// the outputs). Shapes use the spec's symbols; B is the batch, S the pool's slot count.
#pragma once

#include <torch/torch.h>

namespace mamba::cuda {

// convState: (S, CD, K) fp32. slots: (B) int32 (-1 = padding row). zxbcdt: (B, DIP) contiguous,
// raw xBC at columns [xbcOffset, xbcOffset + CD). weight: (CD, K) fp32; bias: (CD) fp32 or
// undefined. Returns silu(conv) as (B, CD) fp32.
torch::Tensor convStep(torch::Tensor& convState, const torch::Tensor& slots, const torch::Tensor& zxbcdt,
                       int64_t xbcOffset, const torch::Tensor& weight, const torch::Tensor& bias);

// ssmState: (S, H, P, N) fp32. xbc: (B, CD) fp32 from convStep. zxbcdt: (B, DIP), raw dt of head
// h at column dtOffset + h. dtBias, A, D: (H) fp32. Returns y (B, H*P) fp32.
torch::Tensor ssmStep(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& xbc,
                      const torch::Tensor& zxbcdt, int64_t dtOffset, const torch::Tensor& dtBias,
                      const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, double dtMin, double dtMax);

// y: (B, Di) fp32; z = zxbcdt[:, 0:Di]; weight: (Di) of zxbcdt's dtype. Returns (B, Di).
torch::Tensor gatedRmsNorm(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& weight,
                           int64_t groups, double eps);

// residual: (R, W) fp32, updated in place (= delta if assign, += delta otherwise; delta may be
// undefined). Returns RMSNorm(residual) * weight as (R, W) of weight's dtype.
torch::Tensor addRmsNorm(torch::Tensor& residual, const torch::Tensor& delta, bool assign,
                         const torch::Tensor& weight, double eps);

}  // namespace mamba::cuda
