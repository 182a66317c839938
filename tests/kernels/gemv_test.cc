// Small-batch GEMV kernels (label gpu) against LibTorch: plain x W^T + b and the gated-RMSNorm
// prologue, for fp32/fp16/bf16, batches 1..8 (including non-bucket sizes), strided inputs,
// with and without bias; outputs poisoned before each launch.
#include <gtest/gtest.h>

#include "kernels/torch/cuda_ops.h"
#include "server/model/ssd.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

using kernel_test::kCuda;
using kernel_test::poison;
using kernel_test::relErr;

double tol(torch::ScalarType t) { return kernel_test::roundingTol(t); }

class GemvTest : public kernel_test::CudaTest {};

TEST_F(GemvTest, PlainMatchesLinear) {
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    for (auto [B, K, M, withBias] : {std::tuple{1, 768, 3352, false}, std::tuple{3, 1536, 768, true},
                                     std::tuple{8, 64, 37, true}, std::tuple{5, 256, 1, false},
                                     std::tuple{2, 2560, 1000, true}}) {
      torch::manual_seed(B * 1000 + K);
      // x is a strided view (a column window of a wider matrix), as decode's inputs can be.
      torch::Tensor wide = torch::randn({B, K + 24});
      torch::Tensor x = wide.narrow(1, 8, K);
      torch::Tensor W = torch::randn({M, K}) / std::sqrt(static_cast<double>(K));
      torch::Tensor bias = withBias ? torch::randn({M}) : torch::Tensor();
      // Reference on the dtype-rounded operands, in fp64.
      torch::Tensor xr = x.to(dt).to(torch::kFloat64), Wr = W.to(dt).to(torch::kFloat64);
      torch::Tensor ref = torch::matmul(xr, Wr.t());
      if (withBias) ref = ref + bias.to(dt).to(torch::kFloat64);
      torch::Tensor xg = wide.to(kCuda, dt).narrow(1, 8, K);
      ASSERT_TRUE(cuda::gemvSupports(B, K, dt));
      poison({B, M}, dt);
      torch::Tensor got = cuda::gemv(xg, W.to(kCuda, dt), withBias ? bias.to(kCuda, dt) : torch::Tensor());
      EXPECT_EQ(got.sizes(), torch::IntArrayRef({B, M}));
      EXPECT_LE(relErr(got, ref), tol(dt)) << "B=" << B << " K=" << K << " M=" << M << " " << dt;
    }
  }
}

TEST_F(GemvTest, GatedNormPrologueMatchesUnfused) {
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    for (auto [B, Di, G, M] : {std::tuple{1, 1536, 1, 768}, std::tuple{4, 1536, 2, 768}, std::tuple{7, 512, 4, 300},
                               std::tuple{8, 64, 1, 17}, std::tuple{5, 1400, 1, 64}}) {
      torch::manual_seed(B * 100 + Di + G);
      torch::Tensor y = torch::randn({B, Di});
      torch::Tensor zx = torch::randn({B, 2 * Di + 40});  // z = the first Di columns
      torch::Tensor nw = torch::rand({Di}) + 0.5;
      torch::Tensor W = torch::randn({M, Di}) / std::sqrt(static_cast<double>(Di));
      torch::Tensor bias = torch::randn({M});
      // Reference: the LibTorch gated norm (rounded to dt, as the model feeds out_proj), then fp64.
      torch::Tensor v = gatedRmsNorm(y, zx.to(dt).narrow(1, 0, Di), nw.to(dt), G, 1e-5, dt);
      torch::Tensor ref = torch::matmul(v.to(torch::kFloat64), W.to(dt).to(torch::kFloat64).t()) +
                          bias.to(dt).to(torch::kFloat64);
      poison({B, M}, dt);
      torch::Tensor got = cuda::gatedRmsNormGemv(y.to(kCuda), zx.to(kCuda, dt), nw.to(kCuda, dt), G, 1e-5,
                                                 W.to(kCuda, dt), bias.to(kCuda, dt));
      // One rounding of v may land on the other side in bf16/fp16; the products stay within tol.
      EXPECT_LE(relErr(got, ref), 2 * tol(dt)) << "B=" << B << " Di=" << Di << " G=" << G << " " << dt;
    }
  }
}

TEST_F(GemvTest, RejectsUnsupportedShapes) {
  torch::Tensor W = torch::randn({16, 64}, torch::TensorOptions().device(kCuda).dtype(torch::kBFloat16));
  EXPECT_FALSE(cuda::gemvSupports(9, 64, torch::kBFloat16));    // batch > 8
  EXPECT_FALSE(cuda::gemvSupports(1, 60, torch::kBFloat16));    // K not a multiple of 8 bf16
  EXPECT_FALSE(cuda::gemvSupports(8, 8192, torch::kFloat32));   // 256 KiB of inputs
  EXPECT_FALSE(cuda::gemvSupports(8, 1536, torch::kBFloat16));   // exactly 48 KiB: no room for the static part
  EXPECT_FALSE(cuda::gemvSupports(5, 1536, torch::kBFloat16));   // 5 rounds up to the batch-8 kernel
  EXPECT_TRUE(cuda::gemvSupports(4, 1536, torch::kBFloat16));
  EXPECT_THROW(cuda::gemv(torch::randn({9, 64}, W.options()), W, torch::Tensor()), c10::Error);
  EXPECT_THROW(cuda::gemv(torch::randn({2, 32}, W.options()), W, torch::Tensor()), c10::Error);  // K mismatch
  EXPECT_THROW(cuda::gemv(torch::randn({2, 64}, W.options().dtype(torch::kFloat32)), W, torch::Tensor()), c10::Error);
}

}  // namespace
}  // namespace mamba
