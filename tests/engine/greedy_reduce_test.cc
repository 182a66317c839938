// greedyReduce(), the device-side greedy pick, run here on CPU tensors: against greedyPick()
// (the host sampler's greedy path) on synthetic rows with NaN/inf/ties and on padded,
// narrowed and bf16 inputs. The token must be identical; the logprob may differ only by the
// rounding of the float64 sum (a different summation order).
#include "server/engine/greedy_reduce.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "server/engine/sampling/sampler.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The float64 sum's rounding: at most ~V * 2^-53 relative to a sum >= 1, i.e. absolute in the
// logprob; plus one float ulp of the result.
void expectLogprobClose(float got, float want, size_t vocab, const std::string& what) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what;
    return;
  }
  const double tol = static_cast<double>(vocab) * 0x1.0p-52 + std::abs(want) * 0x1.0p-23;
  EXPECT_NEAR(got, want, tol) << what;
}

// Rows of different widths, each padded to `width` with `pad` (beyond the reduced vocab).
torch::Tensor padded(const std::vector<float>& row, int64_t width, float pad) {
  torch::Tensor t = torch::full({1, width}, pad, torch::kFloat32);
  t.narrow(1, 0, static_cast<int64_t>(row.size()))
      .copy_(torch::from_blob(const_cast<float*>(row.data()), {1, static_cast<int64_t>(row.size())}, torch::kFloat32));
  return t;
}

TEST(GreedyReduce, MatchesGreedyPickOnHardRows) {
  for (const std::vector<float>& row : test::hardLogitRows()) {
    const int64_t v = static_cast<int64_t>(row.size());
    // Padding entries beyond the vocabulary are larger than anything in it: they must not count.
    torch::Tensor logits = padded(row, v + 3, kInf);
    torch::Tensor r = greedyReduce(logits, v);
    ASSERT_EQ(r.sizes(), (std::vector<int64_t>{1, 2}));
    ASSERT_EQ(r.scalar_type(), torch::kFloat64);
    const GreedyPick want = greedyPick(row);
    EXPECT_EQ(static_cast<int32_t>(r[0][0].item<double>()), want.token) << v;
    expectLogprobClose(static_cast<float>(r[0][1].item<double>()), want.logprob, row.size(), std::to_string(v));
  }
}

TEST(GreedyReduce, BatchOfRowsAndNarrowerVocab) {
  // Many rows at once (one reduction per row), over the first `vocab` of 300 columns.
  torch::manual_seed(3);
  torch::Tensor logits = torch::randn({17, 300}, torch::kFloat32) * 4;
  logits[2].fill_(-kInf);                                // dead row
  logits[3][7] = std::numeric_limits<float>::quiet_NaN();
  logits[4][10] = 50.0f;                                 // tie across rows' picks
  logits[4][11] = 50.0f;
  logits[5][299] = 1000.0f;                              // beyond `vocab`: ignored
  for (int64_t vocab : {300, 257, 1}) {
    torch::Tensor r = greedyReduce(logits, vocab);
    ASSERT_EQ(r.size(0), 17);
    for (int64_t i = 0; i < 17; ++i) {
      torch::Tensor row = logits[i].contiguous();
      const GreedyPick want = greedyPick(std::span<const float>(row.data_ptr<float>(), static_cast<size_t>(vocab)));
      EXPECT_EQ(static_cast<int32_t>(r[i][0].item<double>()), want.token) << i << " " << vocab;
      expectLogprobClose(static_cast<float>(r[i][1].item<double>()), want.logprob, static_cast<size_t>(vocab),
                         std::to_string(i) + " " + std::to_string(vocab));
    }
  }
  // bf16 logits (a bf16 model's output) reduce as their exact fp32 values.
  torch::Tensor bf = logits.to(torch::kBFloat16);
  torch::Tensor r = greedyReduce(bf, 300);
  torch::Tensor asFloat = bf.to(torch::kFloat32).contiguous();
  for (int64_t i = 0; i < 17; ++i) {
    const GreedyPick want = greedyPick(std::span<const float>(asFloat[i].data_ptr<float>(), 300));
    EXPECT_EQ(static_cast<int32_t>(r[i][0].item<double>()), want.token) << i;
    expectLogprobClose(static_cast<float>(r[i][1].item<double>()), want.logprob, 300, std::to_string(i));
  }
}

}  // namespace
}  // namespace mamba
