// CUDA kernels against the LibTorch references (label gpu). Fresh random inputs, N in
// {16, 20, 64, 128} and more (odd N, N > 128 for the SSM step), odd batch sizes, fp32/fp16/bf16
// inputs; outputs poisoned with NaN before each launch (kernel_test_util.h).
#include "kernels/torch/cuda_ops.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "server/model/ssd.h"
#include "server/model/step_ops.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

using kernel_test::cudaInts;
using kernel_test::kCuda;
using kernel_test::poison;
using kernel_test::relErr;

double tol(torch::ScalarType t) { return kernel_test::roundingTol(t); }

class CudaOpsTest : public kernel_test::CudaTest {};

TEST_F(CudaOpsTest, ConvStepMatchesReference) {
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    for (int64_t N : {16, 20, 64, 128}) {
      torch::manual_seed(N);
      const int64_t Di = 96, CD = Di + 2 * N, K = 4, S = 9, B = 5, DIP = 2 * Di + 2 * N + 6;
      torch::Tensor state = torch::randn({S, CD, K});
      torch::Tensor zx = torch::randn({B, DIP}).to(dt);
      torch::Tensor w = torch::randn({CD, K}), bias = torch::randn({CD});
      std::vector<int32_t> slots = {7, 0, 3, 8, 2};
      torch::Tensor refState = state.clone();
      torch::Tensor ref = convStepGeneric(refState, slots, zx.narrow(1, Di, CD).to(torch::kFloat32), w, bias);
      torch::Tensor gState = state.to(kCuda);
      poison({B, CD}, torch::kFloat32);
      torch::Tensor got = cuda::convStep(gState, cudaInts(slots), zx.to(kCuda), Di, w.to(kCuda), bias.to(kCuda));
      EXPECT_LE(relErr(got, ref), 1e-5) << "N=" << N << " " << dt;
      EXPECT_LE(relErr(gState, refState), 1e-6);
    }
  }
}

TEST_F(CudaOpsTest, SsmStepMatchesReferenceAndSkipsPadding) {
  // The shapes cover every layout: 16-byte rows (N % 4 == 0) with one pass per row (N <= 128)
  // or several (N = 256, 300, 1000) and teams of 4..32 threads (N = 12, 16, 64); the flat
  // head layout for unaligned rows (N = 1, 5, 115, 301 with P*N % 4 == 0); and scalar rows
  // (N = 7 and 115 with P*N odd).
  struct Shape { int64_t N, G, B, P; };
  const Shape shapes[] = {{16, 1, 1, 16}, {20, 2, 3, 16}, {64, 1, 7, 64}, {128, 4, 5, 64}, {115, 1, 9, 64},
                          {12, 1, 4, 64}, {5, 1, 2, 8},   {1, 1, 1, 4},   {256, 2, 3, 32}, {300, 1, 2, 8},
                          {301, 1, 2, 8}, {1000, 1, 1, 4}, {7, 1, 2, 5},  {115, 1, 3, 9}};
  for (auto stateDtype : {torch::kFloat32, torch::kBFloat16}) {
    for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
      for (const Shape& sh : shapes) {
        const int64_t N = sh.N, G = sh.G, B = sh.B, P = sh.P;
        torch::manual_seed(N * 7 + B);
        const int64_t H = 8, Di = H * P, CD = Di + 2 * G * N, S = 11, DIP = 2 * Di + 2 * G * N + H;
        // The bf16 pool holds bf16 values; the reference starts from the same values in fp32.
        torch::Tensor state = torch::randn({S, H, P, N}).to(stateDtype).to(torch::kFloat32);
        torch::Tensor xbc = torch::randn({B, CD});
        torch::Tensor zx = torch::randn({B, DIP}).to(dt);
        torch::Tensor dtBias = torch::rand({H}) - 2, A = -torch::rand({H}) * 3, D = torch::randn({H});
        std::vector<int32_t> slots;
        for (int64_t i = 0; i < B; ++i) slots.push_back(static_cast<int32_t>((i * 5 + 1) % S));
        torch::Tensor dtv = torch::nn::functional::softplus(zx.narrow(1, Di + CD, H).to(torch::kFloat32) + dtBias);
        torch::Tensor refState = state.clone();
        torch::Tensor ref = ssmStepGeneric(refState, slots, xbc.narrow(1, 0, Di).reshape({B, H, P}), dtv, A,
                                           xbc.narrow(1, Di, G * N).reshape({B, G, N}),
                                           xbc.narrow(1, Di + G * N, G * N).reshape({B, G, N}), D);
        torch::Tensor gState = state.to(kCuda, stateDtype);
        poison({B, Di}, torch::kFloat32);
        torch::Tensor got = cuda::ssmStep(gState, cudaInts(slots), xbc.to(kCuda), zx.to(kCuda), Di + CD,
                                          dtBias.to(kCuda), A.to(kCuda), D.to(kCuda), G, 0.0, INFINITY);
        const auto what = ::testing::Message() << "N=" << N << " G=" << G << " B=" << B << " P=" << P << " dt=" << dt
                                                << " state=" << stateDtype;
        // y is formed from the fp32 update before any rounding, so it is fp32-exact either way.
        EXPECT_LE(relErr(got, ref.reshape({B, Di})), 1e-5) << what;
        EXPECT_LE(relErr(gState, refState), stateDtype == torch::kFloat32 ? 1e-5 : 8e-3) << what;
        // Untouched slots keep their values exactly.
        for (int64_t s = 0; s < S; ++s) {
          if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
          EXPECT_TRUE(torch::equal(gState[s].cpu(), state[s].to(stateDtype))) << what << " slot " << s;
        }
      }
    }
  }
  // Padding rows (slot -1) leave every state untouched.
  torch::Tensor state = torch::randn({2, 2, 4, 16}).to(kCuda), before = state.clone();
  torch::Tensor out = cuda::ssmStep(state, torch::full({1}, -1, torch::kInt).to(kCuda), torch::randn({1, 8 + 32}).to(kCuda),
                                    torch::randn({1, 60}).to(kCuda), 40, torch::zeros({2}).to(kCuda),
                                    -torch::ones({2}).to(kCuda), torch::ones({2}).to(kCuda), 1, 0.0, INFINITY);
  EXPECT_TRUE(torch::equal(state, before));
  EXPECT_TRUE(torch::equal(out.cpu(), torch::zeros({1, 8})));
}

TEST_F(CudaOpsTest, NormsMatchReference) {
  for (auto dt : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
    // The gated norm's vector kernel takes groups of whole 8-channel vectors with z rows of them
    // (zPad 40: 768, 1536 / 2, 2560, 5120 wide groups); the two-pass kernel the rest and
    // allowVector = false.
    for (auto [R, W, G, zPad] :
         {std::tuple{1, 768, 1, 37}, std::tuple{5, 1536, 2, 37}, std::tuple{3, 100, 4, 37}, std::tuple{1, 768, 1, 40},
          std::tuple{70, 1536, 2, 40}, std::tuple{2, 5120, 1, 40}, std::tuple{3, 2560, 1, 40}, std::tuple{4, 96, 4, 40},
          std::tuple{1030, 768, 1, 40}, std::tuple{1024, 2560, 1, 40}}) {
      torch::manual_seed(R * W + zPad);
      torch::Tensor y = torch::randn({R, W}), zx = torch::randn({R, W + zPad}).to(dt), w = torch::rand({W}).to(dt);
      torch::Tensor ref = gatedRmsNorm(y, zx.narrow(1, 0, W), w, G, 1e-5, dt);
      for (bool allowVector : {true, false}) {
        poison({R, W}, dt);
        torch::Tensor got = cuda::gatedRmsNorm(y.to(kCuda), zx.to(kCuda), w.to(kCuda), G, 1e-5, allowVector);
        EXPECT_LE(relErr(got, ref), tol(dt)) << "gated " << R << "x" << W << " G=" << G << " zPad=" << zPad << " "
                                             << dt << (allowVector ? "" : " two-pass");
      }

      torch::Tensor res = torch::randn({R, W}), delta = torch::randn({R, W}).to(dt);
      torch::Tensor refRes = res + delta.to(torch::kFloat32);
      torch::Tensor refOut = rmsNorm(refRes, w, 1e-5, dt);
      // R >= 1024: the one-warp-per-row vector kernel unless allowVector = false.
      for (bool allowVector : {true, false}) {
        torch::Tensor gRes = res.to(kCuda);
        poison({R, W}, dt);
        torch::Tensor gotOut = cuda::addRmsNorm(gRes, delta.to(kCuda), false, w.to(kCuda), 1e-5, {}, allowVector);
        EXPECT_TRUE(torch::equal(gRes.cpu(), refRes)) << "add+norm residual " << R << "x" << W << " " << dt;
        EXPECT_LE(relErr(gotOut, refOut), tol(dt))
            << "add+norm " << R << "x" << W << " " << dt << (allowVector ? "" : " two-pass");
      }
    }
  }
}

TEST_F(CudaOpsTest, ZeroSlotClearsOneSlotOfEveryPool) {
  // Pools like a state pool's: conv (S, CD, K) fp32 and SSM (S, H, P, N) fp32/bf16, with slot
  // sizes that are not multiples of 16 bytes (N = 115 bf16, a 3-element conv) and a 786 KB
  // slot (the 130m shape's SSM state); every other slot keeps its values bit for bit.
  auto cuda = torch::TensorOptions().device(kCuda);
  std::vector<torch::Tensor> pools = {torch::randn({5, 1792, 4}, cuda), torch::randn({5, 24, 64, 128}, cuda),
                                      torch::randn({5, 3, 1}, cuda), torch::randn({5, 2, 3, 115}, cuda).to(torch::kBFloat16),
                                      torch::randn({5, 7}, cuda).to(torch::kBFloat16)};
  std::vector<torch::Tensor> before;
  for (const auto& t : pools) before.push_back(t.clone());
  for (int64_t slot : {3, 0, 4}) {
    cuda::zeroSlot(pools, slot);
    for (size_t i = 0; i < pools.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "slot " << slot << " pool " << i);
      EXPECT_TRUE(torch::equal(pools[i][slot], torch::zeros_like(pools[i][slot])));
      before[i][slot].zero_();
      EXPECT_TRUE(torch::equal(pools[i], before[i]));  // the others untouched
    }
  }
  EXPECT_THROW(cuda::zeroSlot(pools, 5), c10::Error);                                  // slot out of range
  EXPECT_THROW(cuda::zeroSlot({torch::zeros({2, 3})}, 0), c10::Error);                 // not on the GPU
  EXPECT_THROW(cuda::zeroSlot({torch::zeros({3, 2}, cuda).t()}, 0), c10::Error);       // not contiguous
  EXPECT_THROW(cuda::zeroSlot(std::vector<torch::Tensor>(129, pools[2]), 0), c10::Error);  // too many
}

TEST_F(CudaOpsTest, AdaptersRejectBadInputs) {
  torch::Tensor state = torch::zeros({2, 8, 4}, torch::TensorOptions().device(kCuda));
  torch::Tensor zx = torch::zeros({1, 20}, torch::TensorOptions().device(kCuda));
  torch::Tensor w = torch::zeros({8, 4}, torch::TensorOptions().device(kCuda));
  torch::Tensor slots = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt).device(kCuda));
  EXPECT_THROW(cuda::convStep(state, slots.to(torch::kLong), zx, 0, w, {}), c10::Error);  // slot dtype
  EXPECT_THROW(cuda::convStep(state, slots, zx, 15, w, {}), c10::Error);                  // columns
  torch::Tensor cpuState = state.cpu();
  EXPECT_THROW(cuda::convStep(cpuState, slots, zx, 0, w, {}), c10::Error);                // device
}

}  // namespace
}  // namespace mamba
