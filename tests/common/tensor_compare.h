// The relative error the torch-linked suites compare tensors with (header-only: the test
// support library itself stays torch-free).
#pragma once

#include <algorithm>

#include <torch/torch.h>

namespace mamba::testing {

// max |a - b| / max |b| in fp64 (b is the reference; a zero b counts as 1e-30).
inline double maxRelErr(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor af = a.to(torch::kFloat64), bf = b.to(torch::kFloat64);
  return (af - bf).abs().max().item<double>() / std::max(1e-30, bf.abs().max().item<double>());
}

}  // namespace mamba::testing
