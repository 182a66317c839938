// Greedy pick of logits rows on the device (one launch for the whole batch): per row r, over
// ids [0, vocab), with NaN read as -inf and +inf as FLT_MAX (the host sampler's sanitising),
//   token   = the lowest id of the maximum
//   logprob = -log(sum_i expf((float)(x_i - max)))  (differences in float64, sum in float64),
//             -inf for a row whose entries are all -inf/NaN (token 0 then)
// i.e. engine/sampling's greedyPick() with a tree summation order instead of id order.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct GreedyPickParams {
  int rows = 0, vocab = 0;
  const float* logits = nullptr;  // (rows, stride) fp32
  int64_t stride = 0;
  double* out = nullptr;          // (rows, 2) float64: token id, logprob
};

void launchGreedyPick(const GreedyPickParams& p, Stream stream);

}  // namespace mamba::kernels
