// Shared by the kernel tests (label gpu): the device, the error measure, output poisoning and a
// fixture that skips without a CUDA device.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "server/model/ssd.h"
#include "tests/common/tensor_compare.h"

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
  return testing::maxRelErr(af, bf);
}

// Host int32 values (slots, lengths, flags) as a CUDA tensor.
inline torch::Tensor cudaInts(const std::vector<int32_t>& v) { return torch::tensor(v, torch::kInt).to(kCuda); }

// Allocates and frees a NaN block of the output's size right before a launch, so the caching
// allocator hands that memory to the kernel's output: unwritten elements stay NaN.
inline void poison(std::vector<int64_t> shape, torch::ScalarType t) {
  torch::full(shape, std::nanf(""), torch::TensorOptions().dtype(t).device(kCuda));
}

// Reference of the fused decode in_proj (RMSNorm, in_proj, conv step), in fp64 on the
// dtype-rounded operands: u = RMSNorm(res) * nw rounded to dt; zx = u W^T + bias (B, M); the
// conv step over zx's xBC columns [Di, Di + CD) rounded to dt (as stored), from the window of
// each row's slot in `state` (S, CD, Kc) fp32: xbc (B, CD) = SiLU(window . cw + cb), zero for a
// padding row (slot < 0), and the slots' new windows in `newState` (the others unchanged).
struct InProjConvStepRef {
  torch::Tensor zx, xbc, newState;
};
inline InProjConvStepRef inProjConvStepReference(const torch::Tensor& res, const torch::Tensor& nw,
                                                 const torch::Tensor& W, const torch::Tensor& bias,
                                                 const torch::Tensor& state, const std::vector<int32_t>& slots,
                                                 const torch::Tensor& cw, const torch::Tensor& cb, int64_t Di,
                                                 torch::ScalarType dt) {
  const int64_t B = res.size(0), CD = state.size(1), Kc = state.size(2);
  InProjConvStepRef r;
  torch::Tensor u = rmsNorm(res, nw, 1e-5, dt);
  r.zx = torch::matmul(u.to(torch::kFloat64), W.to(torch::kFloat64).t());
  if (bias.defined()) r.zx = r.zx + bias.to(torch::kFloat64);
  torch::Tensor xin = r.zx.narrow(1, Di, CD).to(dt).to(torch::kFloat64);
  r.newState = state.clone();
  r.xbc = torch::zeros({B, CD}, torch::kFloat64);
  for (int64_t b = 0; b < B; ++b) {
    const int32_t s = slots[static_cast<size_t>(b)];
    if (s < 0) continue;
    torch::Tensor win = torch::cat({state[s].narrow(1, 1, Kc - 1).to(torch::kFloat64), xin[b].unsqueeze(1)}, 1);
    r.newState[s] = win.to(torch::kFloat32);
    torch::Tensor conv = (win * cw.to(torch::kFloat64)).sum(1);
    if (cb.defined()) conv = conv + cb.to(torch::kFloat64);
    r.xbc[b] = torch::silu(conv);
  }
  return r;
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

}  // namespace mamba::kernel_test
