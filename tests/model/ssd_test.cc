// The chunked SSD scan against the naive recurrence (spec §4.4 sanity reference).
#include "server/model/ssd.h"

#include <gtest/gtest.h>

#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

struct ScanCase { int64_t B, L, H, P, G, N, Q; bool init; };

class SsdTest : public ::testing::TestWithParam<ScanCase> {};

TEST_P(SsdTest, ChunkedEqualsNaiveRecurrence) {
  const ScanCase c = GetParam();
  torch::manual_seed(c.L * 131 + c.N);
  torch::Tensor x = torch::randn({c.B, c.L, c.H, c.P});
  torch::Tensor dt = torch::nn::functional::softplus(torch::randn({c.B, c.L, c.H}) - 1.0);
  torch::Tensor A = -torch::rand({c.H}) * 4 - 0.5;
  torch::Tensor Bm = torch::randn({c.B, c.L, c.G, c.N});
  torch::Tensor Cm = torch::randn({c.B, c.L, c.G, c.N});
  torch::Tensor D = torch::randn({c.H});
  torch::Tensor init = c.init ? torch::randn({c.B, c.H, c.P, c.N}) : torch::Tensor();
  SsdResult ref = ssdReferenceScan(x, dt, A, Bm, Cm, D, init);
  SsdResult got = ssdChunkScan(x, dt, A, Bm, Cm, D, c.Q, init);
  EXPECT_LE(testing::maxRelErr(got.y, ref.y), 1e-5);
  EXPECT_LE(testing::maxRelErr(got.finalState, ref.finalState), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SsdTest,
    ::testing::Values(ScanCase{1, 1, 2, 4, 1, 3, 8, false},      // L = 1
                      ScanCase{2, 13, 4, 8, 2, 20, 4, false},    // L not a multiple of Q, G > 1
                      ScanCase{1, 64, 4, 16, 1, 48, 16, true},   // initial state
                      ScanCase{3, 37, 6, 8, 3, 7, 64, true},     // Q > L, odd N
                      ScanCase{1, 100, 8, 4, 8, 1, 32, false})); // N = 1, G = H

TEST(SsdTest, ResultDoesNotDependOnChunkSize) {
  torch::manual_seed(7);
  torch::Tensor x = torch::randn({2, 50, 4, 8}), dt = torch::rand({2, 50, 4}) * 0.2;
  torch::Tensor A = -torch::rand({4}) - 0.1, Bm = torch::randn({2, 50, 1, 16}), Cm = torch::randn({2, 50, 1, 16});
  torch::Tensor D = torch::randn({4});
  SsdResult a = ssdChunkScan(x, dt, A, Bm, Cm, D, 1, {});
  for (int64_t q : {3, 16, 50, 256}) {
    SsdResult b = ssdChunkScan(x, dt, A, Bm, Cm, D, q, {});
    EXPECT_LE(testing::maxRelErr(b.y, a.y), 1e-5) << "Q=" << q;
  }
}

TEST(GatedRmsNorm, GroupsNormalizeIndependently) {
  torch::manual_seed(3);
  torch::Tensor y = torch::randn({5, 12}), z = torch::randn({5, 12}), w = torch::rand({12});
  torch::Tensor out = gatedRmsNorm(y, z, w, 3, 1e-5, torch::kFloat32);
  torch::Tensor v = (y * torch::silu(z)).view({5, 3, 4});
  torch::Tensor want = (v * torch::rsqrt(v.pow(2).mean(-1, true) + 1e-5)).view({5, 12}) * w;
  EXPECT_LE(testing::maxRelErr(out, want), 1e-6);
}

}  // namespace
}  // namespace mamba
