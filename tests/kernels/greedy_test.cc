// cuda::greedyPick (kernels/greedy) against the host sampler's greedyPick() (label gpu): random
// rows of the 130m vocabulary width, ties, NaN/inf entries, dead rows, a strided batch.
#include <cfloat>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "kernels/torch/cuda_ops.h"
#include "server/engine/sampling/sampler.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

using kernel_test::kCuda;

class GreedyPickTest : public kernel_test::CudaTest {};

void expectMatchesHost(const torch::Tensor& rows, int64_t V);  // every row against greedyPick()

TEST_F(GreedyPickTest, MatchesHostGreedyPick) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const int64_t V = 50280, stride = 50304, R = 7;
  torch::manual_seed(3);
  torch::Tensor rows = torch::randn({R, stride}) * 4;
  auto a = rows.accessor<float, 2>();
  a[1][17] = a[1][40000] = 30.f;            // a tie: the lower id wins
  a[2][5] = nan; a[2][6] = inf;             // +inf reads as FLT_MAX, NaN as -inf
  for (int64_t i = 0; i < stride; ++i) a[3][i] = -inf;  // dead row
  a[4][V] = 1e9f;                           // beyond the vocabulary: ignored
  a[5][100] = 80.f;                         // near-certain token
  a[6][V - 1] = 40.f;                       // the maximum in the last chunk's last id
  expectMatchesHost(rows, V);
}

TEST_F(GreedyPickTest, MatchesHostAtEveryBatchShape) {
  // One row (the most chunks per row), a batch where rows and chunks trade off, one chunk per
  // row (300 rows), a vocabulary smaller than one chunk.
  for (auto [R, V] : {std::pair<int64_t, int64_t>{1, 50280}, {64, 50280}, {300, 50280}, {3, 700}}) {
    SCOPED_TRACE(::testing::Message() << R << " rows of " << V);
    torch::manual_seed(R + V);
    expectMatchesHost(torch::randn({R, V + 5}) * 3, V);
  }
}

void expectMatchesHost(const torch::Tensor& rows, int64_t V) {
  const int64_t R = rows.size(0);
  torch::Tensor got = cuda::greedyPick(rows.to(kCuda), V).cpu();
  for (int64_t r = 0; r < R; ++r) {
    GreedyPick ref = greedyPick(std::span<const float>(rows[r].data_ptr<float>(), static_cast<size_t>(V)));
    EXPECT_EQ(static_cast<int32_t>(got[r][0].item<double>()), ref.token) << "row " << r;
    const float lp = static_cast<float>(got[r][1].item<double>());
    if (std::isinf(ref.logprob)) {
      EXPECT_TRUE(std::isinf(lp) && lp < 0) << "row " << r;
    } else {
      // The host rounds each term to float; the summation order differs (see greedy.h).
      EXPECT_NEAR(lp, ref.logprob, 1e-6 * std::max(1.f, std::abs(ref.logprob)) + 1e-11) << "row " << r;
    }
  }
  // Deterministic: the same bits on a second run.
  EXPECT_TRUE(torch::equal(got, cuda::greedyPick(rows.to(kCuda), V).cpu()));
}

TEST_F(GreedyPickTest, RejectsBadInputs) {
  torch::Tensor x = torch::zeros({2, 10}, torch::TensorOptions().device(kCuda));
  EXPECT_THROW(cuda::greedyPick(x, 11), c10::Error);
  EXPECT_THROW(cuda::greedyPick(x.to(torch::kBFloat16), 10), c10::Error);
  EXPECT_THROW(cuda::greedyPick(x.t(), 2), c10::Error);  // column stride != 1
}

}  // namespace
}  // namespace mamba
