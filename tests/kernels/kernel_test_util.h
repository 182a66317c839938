// Shared by the kernel tests (label gpu): the device, the error measure, output poisoning and a
// fixture that skips without a CUDA device.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace mamba::kernel_test {

inline const torch::Device kCuda(torch::kCUDA, 0);

// Relative error of one rounding of the output to `t` (fp32 outputs: accumulation order only).
inline double roundingTol(torch::ScalarType t) {
  return t == torch::kFloat32 ? 1e-5 : t == torch::kFloat16 ? 2e-3 : 1.6e-2;
}

// max |a - b| / max |b|, in fp64 on the CPU; a NaN in `a` (a poisoned element never written)
// fails the calling test.
inline double relErr(const torch::Tensor& a, const torch::Tensor& b) {
  auto af = a.to(torch::kCPU, torch::kFloat64), bf = b.to(torch::kCPU, torch::kFloat64);
  EXPECT_FALSE(af.isnan().any().item<bool>()) << "NaN in kernel output";
  return (af - bf).abs().max().item<double>() / std::max(1e-30, bf.abs().max().item<double>());
}

// Allocates and frees a NaN block of the output's size right before a launch, so the caching
// allocator hands that memory to the kernel's output: unwritten elements stay NaN.
inline void poison(std::vector<int64_t> shape, torch::ScalarType t) {
  torch::full(shape, std::nanf(""), torch::TensorOptions().dtype(t).device(kCuda));
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

}  // namespace mamba::kernel_test
