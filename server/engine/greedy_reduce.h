// Internal to the engine (exposes LibTorch types; never included by a public engine header):
// greedyPick() of many logits rows on the rows' own device, so that a greedy request needs no
// logits on the host: one CUDA kernel (kernels/greedy) for fp32 rows on a GPU, LibTorch ops
// otherwise.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mamba {

// logits: (R, >= vocab) floating point, any device. Returns (R, 2) float64 on the same
// device: column 0 the token id, column 1 its logprob (cast it to float to get the value
// greedyPick() reports). Per row, over ids [0, vocab): NaN counts as -inf and +inf as
// FLT_MAX; the token is the first (lowest) id of the maximum; the logprob is
// -log(sum_i expf((float)(x_i - max))) with the sum in float64, -inf when every entry is
// -inf or NaN (token 0 then). The token is always greedyPick()'s.
// - LibTorch path (any device): the arithmetic per element matches greedyPick() (expf taken as
//   the correctly rounded float of a float64 exp, which glibc's expf also is up to its 0.502
//   ulp bound); only the summation order differs, so the logprob differs at most by the float64
//   sum's rounding (~6e-12 absolute for V = 50280), then rounded to float.
// - fp32 logits on CUDA (kernels/greedy): chunked online sums with every term exp(x_i - max)
//   in float64, not rounded to float: the logprob is within ~6e-8 absolute of greedyPick()'s
//   (half a float ulp per term), bit-identical run to run.
torch::Tensor greedyReduce(const torch::Tensor& logits, int64_t vocab);

}  // namespace mamba
