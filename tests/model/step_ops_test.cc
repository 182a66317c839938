// The in-place CPU decode loops against the LibTorch gather/scatter reference.
#include "server/model/step_ops.h"

#include <gtest/gtest.h>

#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

TEST(StepOps, ConvStepMatchesGenericAndTouchesOnlyItsSlots) {
  torch::manual_seed(1);
  const int64_t S = 6, CD = 20, K = 4;
  torch::Tensor pool = torch::randn({S, CD, K});
  torch::Tensor pool2 = pool.clone();
  std::vector<int32_t> slots = {4, 1, 3};
  torch::Tensor xBC = torch::randn({3, CD}), w = torch::randn({CD, K}), b = torch::randn({CD});
  torch::Tensor got = convStepInPlace(pool, slots, xBC, w, b);
  torch::Tensor want = convStepGeneric(pool2, slots, xBC, w, b);
  EXPECT_LE(testing::maxRelErr(got, want), 1e-6);
  EXPECT_TRUE(torch::equal(pool, pool2));
  EXPECT_TRUE(torch::equal(pool[0], pool2[0]));
}

TEST(StepOps, SsmStepMatchesGenericForOddShapes) {
  for (auto [H, G, N] : {std::tuple{4, 1, 20}, std::tuple{6, 3, 7}, std::tuple{8, 8, 1}}) {
    torch::manual_seed(H * 10 + N);
    const int64_t S = 5, P = 8, B = 3;
    torch::Tensor pool = torch::randn({S, H, P, N});
    torch::Tensor pool2 = pool.clone();
    std::vector<int32_t> slots = {2, 0, 4};
    torch::Tensor x = torch::randn({B, H, P}), dt = torch::rand({B, H}), A = -torch::rand({H});
    torch::Tensor Bm = torch::randn({B, G, N}), Cm = torch::randn({B, G, N}), D = torch::randn({H});
    torch::Tensor got = ssmStepInPlace(pool, slots, x, dt, A, Bm, Cm, D);
    torch::Tensor want = ssmStepGeneric(pool2, slots, x, dt, A, Bm, Cm, D);
    EXPECT_LE(testing::maxRelErr(got, want), 1e-6) << "H=" << H << " G=" << G << " N=" << N;
    EXPECT_LE(testing::maxRelErr(pool, pool2), 1e-6);
    EXPECT_TRUE(torch::equal(pool[1], pool2[1]));  // untouched slot
  }
}

}  // namespace
}  // namespace mamba
