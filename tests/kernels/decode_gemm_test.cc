// Tensor-core decode products (kernels/decode_gemm, label gpu) against LibTorch references:
// the unfused ops (RMSNorm / gated RMSNorm in fp32 rounded to the dtype, then the product in
// fp64, the conv step), bf16 and fp16, batches 1..64, the model's shapes (130m, a 370m-wide
// in_proj) and odd ones (rows not a multiple of the tile, K split over 1, 2, 4 and 8 CTAs,
// groups 1, 2 and 4, conv kernel 3, strided inputs), padding rows (slot -1), outputs poisoned
// before each launch, two runs bit-identical, and the conv step bit for bit what convStep does
// with the kernel's own zxbcdt. Skips (with a note) on GPUs below sm_90, where the launcher
// refuses every shape.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/torch/cuda_ops.h"
#include "kernels/torch/decode_gemm_ops.h"
#include "server/model/ssd.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

using kernel_test::cudaInts;
using kernel_test::kCuda;
using kernel_test::poison;
using kernel_test::relErr;

double tol(torch::ScalarType t) { return kernel_test::roundingTol(t); }

// The model's range 3..64 (odd sizes and every batch tile), plus 1 and 2 (the GEMV's range,
// in case the crossover moves down).
const std::vector<int64_t> kBatches = {1, 2, 3, 5, 8, 16, 33, 64};

class DecodeGemmTest : public kernel_test::CudaTest {
 protected:
  void SetUp() override {
    kernel_test::CudaTest::SetUp();
    if (IsSkipped()) return;
    if (!cuda::decodeGemmSupports(8, 768, 3352, torch::kBFloat16)) {
      GTEST_SKIP() << "decode gemm unsupported on this device (needs sm_90)";
    }
  }
};

// Slot of batch row b in a pool of 70: distinct, out of order; every 4th row from row 1 on is
// a padding row (-1).
std::vector<int32_t> slotsFor(int64_t B) {
  std::vector<int32_t> s;
  for (int64_t b = 0; b < B; ++b) s.push_back(b % 4 == 1 ? -1 : static_cast<int32_t>((b * 37 + 5) % 70));
  return s;
}
constexpr int64_t kSlots = 70;

// in_proj layer shapes: Dm, head dim P, heads H, groups G, state N, conv kernel Kc, rows padded
// to a multiple of 8, in_proj bias, conv bias.
struct InProjShape {
  int64_t Dm, P, H, G, N, Kc;
  bool padRows, inBias, convBias;
};

TEST_F(DecodeGemmTest, RmsNormInProjConvStepMatchesUnfused) {
  const std::vector<InProjShape> shapes = {
      {768, 64, 24, 1, 128, 4, true, false, true},   // 130m: 3352 rows, K split 4 x 192
      {192, 64, 6, 2, 20, 4, false, true, false},    // 854 rows (no padding), K split 4 x 48
      {48, 16, 6, 1, 7, 3, true, true, true},        // K = 48: one CTA per cluster; conv kernel 3
      {1024, 64, 32, 1, 128, 4, true, true, true},   // 370m-like: 4384 rows, K split 4 x 256
  };
  for (auto dt : {torch::kBFloat16, torch::kFloat16}) {
    for (const InProjShape& sh : shapes) {
      for (int64_t B : kBatches) {
        if (sh.Dm == 1024 && B != 5 && B != 64) continue;  // the wide shape at two batches
        const int64_t Dm = sh.Dm, Di = sh.H * sh.P, G = sh.G, N = sh.N, Kc = sh.Kc, S = kSlots;
        const int64_t CD = Di + 2 * G * N, DIP = 2 * Di + 2 * G * N + sh.H;
        const int64_t M = sh.padRows ? (DIP + 7) / 8 * 8 : DIP;
        torch::manual_seed(B * 1000 + Dm + N);
        const auto what = ::testing::Message() << "B=" << B << " Dm=" << Dm << " M=" << M << " Kc=" << Kc << " " << dt;
        torch::Tensor res = torch::randn({B, Dm}) * 3;
        res.narrow(1, 0, Dm / 4).mul_(20);  // slices of different RMS: the per-slice scales differ
        torch::Tensor nw = (torch::rand({Dm}) + 0.5).to(dt);
        torch::Tensor W = torch::cat({torch::randn({DIP, Dm}) / std::sqrt(static_cast<double>(Dm)),
                                      torch::zeros({M - DIP, Dm})}).to(dt);
        torch::Tensor bias =
            sh.inBias ? torch::cat({torch::randn({DIP}), torch::zeros({M - DIP})}).to(dt) : torch::Tensor();
        torch::Tensor state = torch::randn({S, CD, Kc});
        torch::Tensor cw = torch::randn({CD, Kc}) * 0.5, cb = sh.convBias ? torch::randn({CD}) : torch::Tensor();
        const std::vector<int32_t> slots = slotsFor(B);
        ASSERT_TRUE(cuda::decodeGemmSupports(B, Dm, M, dt)) << what;

        const kernel_test::InProjConvStepRef ref =
            kernel_test::inProjConvStepReference(res, nw, W, bias, state, slots, cw, cb, Di, dt);
        const torch::Tensor &zxRef = ref.zx, &xbcRef = ref.xbc, &refState = ref.newState;

        torch::Tensor gRes = res.to(kCuda), gNw = nw.to(kCuda), gW = W.to(kCuda);
        torch::Tensor gBias = bias.defined() ? bias.to(kCuda) : torch::Tensor();
        torch::Tensor gCw = cw.to(kCuda), gCb = cb.defined() ? cb.to(kCuda) : torch::Tensor();
        torch::Tensor gSlots = cudaInts(slots);
        auto run = [&](torch::Tensor& st) {
          {  // both outputs poisoned; freed together, so the call's two allocations get the NaNs
            torch::Tensor a = torch::full({B, M}, std::nanf(""), torch::TensorOptions().dtype(dt).device(kCuda));
            torch::Tensor c = torch::full({B, CD}, std::nanf(""), torch::TensorOptions().device(kCuda));
          }
          return cuda::rmsNormGemmConvStep(gRes, gNw, 1e-5, gW, gBias, st, gSlots, Di, gCw, gCb);
        };
        torch::Tensor gState = state.to(kCuda), gState2 = state.to(kCuda);
        cuda::RmsNormGemvConvResult got = run(gState);
        ASSERT_EQ(got.zxbcdt.sizes(), torch::IntArrayRef({B, M})) << what;
        ASSERT_EQ(got.xbc.sizes(), torch::IntArrayRef({B, CD})) << what;
        // One rounding of the operands may land on the other side in bf16/fp16.
        EXPECT_LE(relErr(got.zxbcdt, zxRef), 2 * tol(dt)) << what;
        EXPECT_LE(relErr(got.xbc, xbcRef), 2 * tol(dt)) << what;
        EXPECT_LE(relErr(gState, refState), 2 * tol(dt)) << what;
        EXPECT_TRUE(torch::equal(gRes.cpu(), res)) << what << ": the residual is read only";
        for (int64_t s = 0; s < S; ++s) {  // untouched slots keep their windows
          if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
          EXPECT_TRUE(torch::equal(gState[s].cpu(), state[s])) << what << " slot " << s;
        }
        if (B >= 2) {
          EXPECT_TRUE(torch::equal(got.xbc[1].cpu(), torch::zeros({CD}))) << what << ": padding row";
        }
        // The padded rows of W are zero: so are their outputs.
        if (M > DIP) {
          EXPECT_EQ(got.zxbcdt.narrow(1, DIP, M - DIP).abs().max().item<float>(), 0.f) << what;
        }

        // The conv epilogue is convStep, bit for bit, on the kernel's own zxbcdt.
        torch::Tensor stateUnfused = state.to(kCuda);
        torch::Tensor xbcUnfused = cuda::convStep(stateUnfused, gSlots, got.zxbcdt, Di, gCw, gCb);
        EXPECT_TRUE(torch::equal(got.xbc.cpu(), xbcUnfused.cpu())) << what << ": conv output vs convStep";
        EXPECT_TRUE(torch::equal(gState.cpu(), stateUnfused.cpu())) << what << ": conv state vs convStep";

        // The unfused GPU path (addRmsNorm, cuBLAS, convStep) within the same tolerance.
        torch::Tensor resCopy = gRes.clone();
        torch::Tensor uGpu = cuda::addRmsNorm(resCopy, torch::Tensor(), false, gNw, 1e-5);
        torch::Tensor zxGpu = torch::nn::functional::linear(uGpu, gW, gBias);
        EXPECT_LE(relErr(got.zxbcdt, zxGpu), 2 * tol(dt)) << what << ": vs cuBLAS";

        // Deterministic: a second run on the same inputs is bit-identical.
        cuda::RmsNormGemvConvResult again = run(gState2);
        EXPECT_TRUE(torch::equal(got.zxbcdt, again.zxbcdt)) << what << ": run to run";
        EXPECT_TRUE(torch::equal(got.xbc, again.xbc)) << what << ": run to run";
        EXPECT_TRUE(torch::equal(gState, gState2)) << what << ": run to run";
      }
    }
  }
}

// out_proj shapes: Di, groups, N (output rows), bias, extra z columns (odd: 2-byte z loads).
struct OutProjShape {
  int64_t Di, G, N;
  bool bias;
  int64_t zExtra;
};

TEST_F(DecodeGemmTest, GatedNormOutProjResidualMatchesUnfused) {
  const std::vector<OutProjShape> shapes = {
      {1536, 1, 768, false, 40},  // 130m: K split 8 x 192
      {512, 2, 300, true, 41},    // groups 2; 300 rows (not a multiple of 64); odd z stride
      {384, 4, 100, true, 40},    // groups 4, K split 4 x 96
      {96, 1, 48, false, 40},     // K split 2 x 48
  };
  for (auto dt : {torch::kBFloat16, torch::kFloat16}) {
    for (const OutProjShape& sh : shapes) {
      for (int64_t B : kBatches) {
        const int64_t Di = sh.Di, G = sh.G, N = sh.N;
        torch::manual_seed(B * 100 + Di + G);
        const auto what = ::testing::Message() << "B=" << B << " Di=" << Di << " G=" << G << " N=" << N << " " << dt;
        torch::Tensor y = torch::randn({B, Di});
        y.narrow(1, 0, Di / 3).mul_(10);  // slices of different RMS
        torch::Tensor zx = torch::randn({B, 2 * Di + sh.zExtra});  // z = the first Di columns
        torch::Tensor nw = torch::rand({Di}) + 0.5;
        torch::Tensor W = torch::randn({N, Di}) / std::sqrt(static_cast<double>(Di));
        torch::Tensor bias = sh.bias ? torch::randn({N}) : torch::Tensor();
        torch::Tensor res = torch::randn({B, N}) * 4;
        ASSERT_TRUE(cuda::decodeGemmSupports(B, Di, N, dt, G)) << what;

        torch::Tensor v = gatedRmsNorm(y, zx.to(dt).narrow(1, 0, Di), nw.to(dt), G, 1e-5, dt);
        torch::Tensor prod = torch::matmul(v.to(torch::kFloat64), W.to(dt).to(torch::kFloat64).t());
        if (sh.bias) prod = prod + bias.to(dt).to(torch::kFloat64);
        torch::Tensor ref = res.to(torch::kFloat64) + prod.to(dt).to(torch::kFloat64);

        torch::Tensor gy = y.to(kCuda), gzx = zx.to(kCuda, dt), gnw = nw.to(kCuda, dt), gW = W.to(kCuda, dt);
        torch::Tensor gb = sh.bias ? bias.to(kCuda, dt) : torch::Tensor();
        poison({B, N}, dt);
        torch::Tensor stored = cuda::gatedRmsNormGemm(gy, gzx, gnw, G, 1e-5, gW, gb);
        ASSERT_EQ(stored.sizes(), torch::IntArrayRef({B, N})) << what;
        EXPECT_LE(relErr(stored, prod), 2 * tol(dt)) << what << ": stored product";
        torch::Tensor gRes = res.to(kCuda);
        cuda::gatedRmsNormGemmResidual(gRes, gy, gzx, gnw, G, 1e-5, gW, gb);
        EXPECT_LE(relErr(gRes, ref), 2 * tol(dt)) << what << ": residual";
        // The residual epilogue adds exactly the rounded product the store epilogue writes.
        EXPECT_TRUE(torch::equal(gRes, res.to(kCuda) + stored.to(torch::kFloat32))) << what;
        // The unfused GPU path (gated norm kernel, cuBLAS).
        torch::Tensor unfused = torch::nn::functional::linear(cuda::gatedRmsNorm(gy, gzx, gnw, G, 1e-5), gW, gb);
        EXPECT_LE(relErr(stored, unfused), 2 * tol(dt)) << what << ": vs unfused";
        // Deterministic.
        poison({B, N}, dt);
        EXPECT_TRUE(torch::equal(stored, cuda::gatedRmsNormGemm(gy, gzx, gnw, G, 1e-5, gW, gb))) << what;
      }
    }
  }
}

// The plain product (no prologue, store): strided x, with 8-byte (stride % 4 == 0) and 2-byte
// (odd stride) input loads.
TEST_F(DecodeGemmTest, PlainProductMatchesLinear) {
  for (auto dt : {torch::kBFloat16, torch::kFloat16}) {
    for (auto [K, M, extra, withBias] : {std::tuple{768, 3352, 24, true}, std::tuple{1536, 768, 9, false},
                                         std::tuple{64, 37, 8, true}, std::tuple{256, 1000, 3, false}}) {
      for (int64_t B : kBatches) {
        torch::manual_seed(B * 1000 + K);
        const auto what = ::testing::Message() << "B=" << B << " K=" << K << " M=" << M << " " << dt;
        torch::Tensor wide = torch::randn({B, K + extra});
        torch::Tensor x = wide.narrow(1, extra / 2, K);
        torch::Tensor W = torch::randn({M, K}) / std::sqrt(static_cast<double>(K));
        torch::Tensor bias = withBias ? torch::randn({M}) : torch::Tensor();
        torch::Tensor ref = torch::matmul(x.to(dt).to(torch::kFloat64), W.to(dt).to(torch::kFloat64).t());
        if (withBias) ref = ref + bias.to(dt).to(torch::kFloat64);
        torch::Tensor xg = wide.to(kCuda, dt).narrow(1, extra / 2, K);
        poison({B, M}, dt);
        torch::Tensor got = cuda::decodeGemm(xg, W.to(kCuda, dt), withBias ? bias.to(kCuda, dt) : torch::Tensor());
        ASSERT_EQ(got.sizes(), torch::IntArrayRef({B, M})) << what;
        EXPECT_LE(relErr(got, ref), tol(dt)) << what;
      }
    }
  }
}

TEST_F(DecodeGemmTest, RefusesUnsupportedShapes) {
  EXPECT_FALSE(cuda::decodeGemmSupports(8, 768, 3352, torch::kFloat32));  // fp32 weights
  EXPECT_FALSE(cuda::decodeGemmSupports(65, 768, 3352, torch::kBFloat16));  // batch > 64
  EXPECT_FALSE(cuda::decodeGemmSupports(0, 768, 3352, torch::kBFloat16));
  EXPECT_FALSE(cuda::decodeGemmSupports(8, 760, 3352, torch::kBFloat16));   // K not a multiple of 16
  EXPECT_FALSE(cuda::decodeGemmSupports(8, 4096, 768, torch::kBFloat16));   // K / 8 > 256
  EXPECT_FALSE(cuda::decodeGemmSupports(8, 384, 768, torch::kBFloat16, 3));  // groups 3: no cluster split fits
  EXPECT_FALSE(cuda::decodeGemmSupports(8, 1536, 768, torch::kBFloat16, 16));  // groups > 8
  EXPECT_TRUE(cuda::decodeGemmSupports(64, 2048, 768, torch::kFloat16, 8));
  EXPECT_TRUE(cuda::decodeGemmSupports(1, 48, 1, torch::kBFloat16));

  auto bf = torch::TensorOptions().device(kCuda).dtype(torch::kBFloat16);
  torch::Tensor W = torch::randn({16, 64}, bf);
  EXPECT_THROW(cuda::decodeGemm(torch::randn({65, 64}, bf), W, {}), c10::Error);
  EXPECT_THROW(cuda::decodeGemm(torch::randn({4, 64}, bf).to(torch::kFloat32), W.to(torch::kFloat32), {}), c10::Error);
  EXPECT_THROW(cuda::decodeGemm(torch::randn({4, 32}, bf), W, {}), c10::Error);  // K mismatch
  // Gated norm with 3 groups: refused with the reason.
  torch::Tensor y = torch::randn({4, 384}, bf.dtype(torch::kFloat32)), zx = torch::randn({4, 384}, bf);
  try {
    cuda::gatedRmsNormGemm(y, zx, torch::ones({384}, bf), 3, 1e-5, torch::randn({32, 384}, bf), {});
    ADD_FAILURE() << "groups 3 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("group"), std::string::npos) << e.what();
  }
  // A weight view that is not 16-byte aligned.
  torch::Tensor Wflat = torch::randn({16 * 64 + 1}, bf);
  EXPECT_THROW(cuda::decodeGemm(torch::randn({4, 64}, bf), Wflat.narrow(0, 1, 16 * 64).view({16, 64}), {}),
               c10::Error);
}

}  // namespace
}  // namespace mamba
