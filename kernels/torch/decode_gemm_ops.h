// LibTorch adapters for the decode tensor-core products (kernels/decode_gemm), batch 1..64 on
// sm_90: the same arguments and results as the GEMV adapters of cuda_ops.h (validate dtype,
// device, shape, stride and alignment, then launch on the current CUDA stream; capturable).
// Results equal the unfused ops within the dtype's rounding (the norms' RMS factors are applied
// to the fp32 accumulators instead of rounding normalised inputs), not bit for bit.
#pragma once

#include <torch/torch.h>

#include "kernels/torch/cuda_ops.h"

namespace mamba::cuda {

// Whether the kernels take B rows of K inputs into N outputs of `dtype` (bf16/fp16) on the
// current device (sm_90+); groups: the gated norm's groups (1 for the other prologues).
bool decodeGemmSupports(int64_t batch, int64_t K, int64_t N, torch::ScalarType dtype, int64_t groups = 1);

// x: (B, K) of weight's dtype, unit column stride; weight: (N, K) contiguous, 16-byte aligned;
// bias: (N) or undefined. Returns x W^T + bias as (B, N).
torch::Tensor decodeGemm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// gatedRmsNormGemv (cuda_ops.h) on tensor cores: (B, N) = gatedRmsNorm(y, z) W^T + bias.
torch::Tensor gatedRmsNormGemm(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               int64_t groups, double eps, const torch::Tensor& weight, const torch::Tensor& bias);

// rmsNormGemvConvStep (cuda_ops.h) on tensor cores: zxbcdt = RMSNorm(residual) W^T + bias and
// the conv step of its xBC rows, convState stepped in place exactly as convStep steps it for
// that zxbcdt (slot -1: padding row, state untouched, xbc row 0).
RmsNormGemvConvResult rmsNormGemmConvStep(const torch::Tensor& residual, const torch::Tensor& normWeight, double eps,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          torch::Tensor& convState, const torch::Tensor& slots, int64_t xbcOffset,
                                          const torch::Tensor& convWeight, const torch::Tensor& convBias);

// gatedRmsNormGemvResidual (cuda_ops.h) on tensor cores: residual (B, N) fp32 += the rounded
// gatedRmsNormGemm output, in place.
void gatedRmsNormGemmResidual(torch::Tensor& residual, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                              const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight,
                              const torch::Tensor& bias);

}  // namespace mamba::cuda
