// Decode-step ops that update the state pool in place, indexed by slot (spec §5).
//
// On CPU with fp32 states they are direct loops over the pool (no gather/scatter); elsewhere
// they fall back to LibTorch gather + index_copy_ (the CUDA kernels replace that path).
// Slots must be distinct within one call.
#pragma once

#include <span>

#include <torch/torch.h>

namespace mamba {

// convState: (S, CD, K), newest input last. xBC: (B, CD) raw (pre-conv) inputs of this step.
// weight: (CD, K) fp32; bias: (CD) fp32 or undefined. Shifts each slot's window left, appends
// xBC, and returns silu(bias + sum_k window[k] * weight[k]) as (B, CD) fp32.
torch::Tensor convStepInPlace(torch::Tensor& convState, std::span<const int32_t> slots, const torch::Tensor& xBC,
                              const torch::Tensor& weight, const torch::Tensor& bias);

// ssmState: (S, H, P, N). x: (B, H, P), dt: (B, H) (softplus applied), A: (H), Bm/Cm: (B, G, N),
// D: (H), all fp32. Updates S <- S * exp(dt A) + dt * x (x) B and returns y = S . C + D x
// as (B, H, P) fp32. Head h reads group h / (H / G).
torch::Tensor ssmStepInPlace(torch::Tensor& ssmState, std::span<const int32_t> slots, const torch::Tensor& x,
                             const torch::Tensor& dt, const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, const torch::Tensor& D);

// The LibTorch gather/scatter versions, used off-CPU and as the test reference for the loops.
torch::Tensor convStepGeneric(torch::Tensor& convState, std::span<const int32_t> slots, const torch::Tensor& xBC,
                              const torch::Tensor& weight, const torch::Tensor& bias);
torch::Tensor ssmStepGeneric(torch::Tensor& ssmState, std::span<const int32_t> slots, const torch::Tensor& x,
                             const torch::Tensor& dt, const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, const torch::Tensor& D);

}  // namespace mamba
