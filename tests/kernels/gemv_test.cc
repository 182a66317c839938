// Small-batch GEMV kernels (label gpu) against LibTorch: plain x W^T + b, the gated-RMSNorm
// prologue, the fused decode in_proj (RMSNorm prologue + conv-step epilogue) and the residual
// epilogue, for fp32/fp16/bf16, batches 1..8 (including non-bucket sizes), strided inputs,
// with and without bias; outputs poisoned before each launch. The fused kernels are also
// compared with the unfused kernels they replace, which they must match bit for bit.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/torch/cuda_ops.h"
#include "server/model/ssd.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

using kernel_test::cudaInts;
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

// The decode in_proj of mamba2_model.cc at small batch: u = RMSNorm(residual) * w rounded to
// dtype, zxbcdt = u W^T + b rounded, then the conv step on the xBC rows, in place on the pool.
// Layers of N in {16, 20, 64, 128}, G in {1, 2}, in_proj rows zero-padded to a multiple of 8
// or not, slots in arbitrary order with one padding row (-1) from batch 2 on.
TEST_F(GemvTest, RmsNormInProjConvStepMatchesUnfused) {
  const torch::Device cpu(torch::kCPU);
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    for (int64_t B : {1, 2, 3, 8}) {
      for (int64_t N : {16, 20, 64, 128}) {
        // Two layer shapes: Dm 256, G 1, 8 heads of 64 (DIP a multiple of 8, conv bias only), and
        // Dm 192, G 2, 6 heads of 64 (DIP padded by 2 zero rows as on CUDA, in_proj bias only).
        const bool alt = (B + N / 4) % 2 == 1;
        const int64_t Dm = alt ? 192 : 256, P = 64, Di = 2 * Dm, H = Di / P, G = alt ? 2 : 1, Kc = 4, S = 11;
        const int64_t CD = Di + 2 * G * N, DIP = 2 * Di + 2 * G * N + H, M = (DIP + 7) / 8 * 8;
        torch::manual_seed(B * 1000 + N + (alt ? 7 : 0));
        torch::Tensor res = torch::randn({B, Dm}) * 3;
        torch::Tensor nw = (torch::rand({Dm}) + 0.5).to(dt);
        torch::Tensor W = torch::cat({torch::randn({DIP, Dm}) / std::sqrt(static_cast<double>(Dm)),
                                      torch::zeros({M - DIP, Dm})}).to(dt);
        torch::Tensor bias = alt ? torch::cat({torch::randn({DIP}), torch::zeros({M - DIP})}).to(dt) : torch::Tensor();
        torch::Tensor state = torch::randn({S, CD, Kc});
        torch::Tensor cw = torch::randn({CD, Kc}) * 0.5, cb = alt ? torch::Tensor() : torch::randn({CD});
        std::vector<int32_t> slots;
        for (int64_t b = 0; b < B; ++b) slots.push_back(static_cast<int32_t>((b * 7 + 3) % S));  // 3, 10, 6, 2, ...
        if (B >= 2) slots[static_cast<size_t>(B / 2)] = -1;
        const auto what = ::testing::Message() << "B=" << B << " N=" << N << " Dm=" << Dm << " G=" << G << " " << dt;

        const kernel_test::InProjConvStepRef ref =
            kernel_test::inProjConvStepReference(res, nw, W, bias, state, slots, cw, cb, Di, dt);
        const torch::Tensor &zxRef = ref.zx, &xbcRef = ref.xbc, &refState = ref.newState;

        // The unfused GPU path: addRmsNorm, the plain GEMV, convStep.
        torch::Tensor gRes = res.to(kCuda), gNw = nw.to(kCuda), gW = W.to(kCuda);
        torch::Tensor gBias = bias.defined() ? bias.to(kCuda) : torch::Tensor();
        torch::Tensor gCw = cw.to(kCuda), gCb = cb.defined() ? cb.to(kCuda) : torch::Tensor();
        torch::Tensor gSlots = cudaInts(slots);
        torch::Tensor resCopy = gRes.clone(), stateUnfused = state.to(kCuda);
        torch::Tensor uUnfused = cuda::addRmsNorm(resCopy, torch::Tensor(), false, gNw, 1e-5);
        torch::Tensor zxUnfused = cuda::gemv(uUnfused, gW, gBias);
        torch::Tensor xbcUnfused = cuda::convStep(stateUnfused, gSlots, zxUnfused, Di, gCw, gCb);

        torch::Tensor gState = state.to(kCuda);
        {  // both outputs poisoned; freed together, so the call's two allocations get the NaNs
          torch::Tensor a = torch::full({B, M}, std::nanf(""), torch::TensorOptions().dtype(dt).device(kCuda));
          torch::Tensor c = torch::full({B, CD}, std::nanf(""), torch::TensorOptions().device(kCuda));
        }
        cuda::RmsNormGemvConvResult got =
            cuda::rmsNormGemvConvStep(gRes, gNw, 1e-5, gW, gBias, gState, gSlots, Di, gCw, gCb);
        ASSERT_EQ(got.zxbcdt.sizes(), torch::IntArrayRef({B, M})) << what;
        ASSERT_EQ(got.xbc.sizes(), torch::IntArrayRef({B, CD})) << what;
        // One rounding of u may land on the other side in bf16/fp16; the products stay within tol.
        EXPECT_LE(relErr(got.zxbcdt, zxRef), 2 * tol(dt)) << what;
        EXPECT_LE(relErr(got.xbc, xbcRef), 2 * tol(dt)) << what;
        EXPECT_LE(relErr(gState, refState), 2 * tol(dt)) << what;
        EXPECT_TRUE(torch::equal(gRes.cpu(), res)) << what << ": the residual is read only";
        for (int64_t s = 0; s < S; ++s) {  // untouched slots (the padding row's included) keep their windows
          if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
          EXPECT_TRUE(torch::equal(gState[s].cpu(), state[s])) << what << " slot " << s;
        }
        if (B >= 2) {
          EXPECT_TRUE(torch::equal(got.xbc[B / 2].cpu(), torch::zeros({CD}))) << what << ": padding row";
        }
        // Bit for bit what the unfused kernels compute.
        EXPECT_TRUE(torch::equal(got.zxbcdt.cpu(), zxUnfused.cpu())) << what;
        EXPECT_TRUE(torch::equal(got.xbc.cpu(), xbcUnfused.cpu())) << what;
        EXPECT_TRUE(torch::equal(gState.cpu(), stateUnfused.cpu())) << what;
      }
    }
  }
  // Bad inputs: residual dtype, xBC rows past M, conv kernel size, slots length.
  auto f32 = torch::TensorOptions().device(kCuda);
  torch::Tensor res = torch::randn({2, 64}, f32), nw = torch::ones({64}, f32), W = torch::randn({40, 64}, f32);
  torch::Tensor state = torch::zeros({3, 16, 4}, f32), cw = torch::zeros({16, 4}, f32);
  torch::Tensor slots = torch::arange(2, f32.dtype(torch::kInt));
  EXPECT_NO_THROW(cuda::rmsNormGemvConvStep(res, nw, 1e-5, W, {}, state, slots, 24, cw, {}));
  EXPECT_THROW(cuda::rmsNormGemvConvStep(res.to(torch::kBFloat16), nw, 1e-5, W, {}, state, slots, 24, cw, {}), c10::Error);
  EXPECT_THROW(cuda::rmsNormGemvConvStep(res, nw, 1e-5, W, {}, state, slots, 25, cw, {}), c10::Error);
  torch::Tensor wide = torch::zeros({3, 16, 17}, f32);
  EXPECT_THROW(cuda::rmsNormGemvConvStep(res, nw, 1e-5, W, {}, wide, slots, 24, torch::zeros({16, 17}, f32), {}),
               c10::Error);
  EXPECT_THROW(cuda::rmsNormGemvConvStep(res, nw, 1e-5, W, {}, state, slots.narrow(0, 0, 1), 24, cw, {}), c10::Error);
}

// out_proj with the residual epilogue: residual += gatedRmsNormGemv(...), in place.
TEST_F(GemvTest, ResidualEpilogueAddsTheGatedProduct) {
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    for (auto [B, Di, G, M, withBias] : {std::tuple{1, 1536, 1, 768, false}, std::tuple{3, 512, 2, 256, true},
                                         std::tuple{8, 384, 1, 192, false}, std::tuple{5, 1024, 4, 100, true}}) {
      torch::manual_seed(B * 100 + Di + G);
      torch::Tensor y = torch::randn({B, Di});
      torch::Tensor zx = torch::randn({B, 2 * Di + 40});
      torch::Tensor nw = torch::rand({Di}) + 0.5;
      torch::Tensor W = torch::randn({M, Di}) / std::sqrt(static_cast<double>(Di));
      torch::Tensor bias = withBias ? torch::randn({M}) : torch::Tensor();
      torch::Tensor res = torch::randn({B, M}) * 4;
      const auto what = ::testing::Message() << "B=" << B << " Di=" << Di << " G=" << G << " M=" << M << " " << dt;
      torch::Tensor v = gatedRmsNorm(y, zx.to(dt).narrow(1, 0, Di), nw.to(dt), G, 1e-5, dt);
      torch::Tensor prod = torch::matmul(v.to(torch::kFloat64), W.to(dt).to(torch::kFloat64).t());
      if (withBias) prod = prod + bias.to(dt).to(torch::kFloat64);
      torch::Tensor ref = res.to(torch::kFloat64) + prod.to(dt).to(torch::kFloat64);

      torch::Tensor gy = y.to(kCuda), gzx = zx.to(kCuda, dt), gnw = nw.to(kCuda, dt), gW = W.to(kCuda, dt);
      torch::Tensor gb = withBias ? bias.to(kCuda, dt) : torch::Tensor();
      torch::Tensor gRes = res.to(kCuda);
      cuda::gatedRmsNormGemvResidual(gRes, gy, gzx, gnw, G, 1e-5, gW, gb);
      // The product is rounded to dt before the add; relative to max |residual + product|.
      EXPECT_LE(relErr(gRes, ref), 2 * tol(dt)) << what;
      // Exactly what addRmsNorm(residual, gatedRmsNormGemv(...)) adds.
      torch::Tensor unfused = res.to(kCuda) + cuda::gatedRmsNormGemv(gy, gzx, gnw, G, 1e-5, gW, gb).to(torch::kFloat32);
      EXPECT_TRUE(torch::equal(gRes, unfused)) << what;
    }
  }
  // Shape checks: residual must be (B, M) fp32.
  torch::Tensor W = torch::randn({16, 64}).to(kCuda);
  torch::Tensor y = torch::randn({2, 64}).to(kCuda), zx = torch::randn({2, 64}).to(kCuda);
  torch::Tensor nw = torch::ones({64}).to(kCuda);
  torch::Tensor bad = torch::zeros({2, 15}).to(kCuda), badType = torch::zeros({2, 16}).to(kCuda, torch::kFloat16);
  EXPECT_THROW(cuda::gatedRmsNormGemvResidual(bad, y, zx, nw, 1, 1e-5, W, {}), c10::Error);
  EXPECT_THROW(cuda::gatedRmsNormGemvResidual(badType, y, zx, nw, 1, 1e-5, W, {}), c10::Error);
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
