// The CPU TorchBackend's per-row outputs on the real model: kGreedy rows give exactly the
// host sampler's greedy token and logprob (over the first greedyVocab ids), kLogits rows the
// full rows (compacted, in row order), kNone rows nothing; and the device reduction
// (greedyReduce) agrees with both on the model's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "server/engine/greedy_reduce.h"
#include "server/engine/model_backend.h"
#include "server/engine/sampling/sampler.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

uint32_t bitsOf(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// The host sampler's result at temperature 0 through its general path (top logprobs on).
Sampler::Result hostGreedy(std::span<const float> row) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = 1;
  return Sampler(p).sample(row);
}

TEST(TorchBackendRows, GreedyRowsMatchTheHostSamplerAndLogitsRowsAreCompacted) {
  constexpr int kRows = 6;
  auto ref = test::loadBackend(kRows);   // every row kLogits: the reference
  auto dut = test::loadBackend(kRows);   // mixed rows
  const int64_t vocab = ref->info().vocabSize;
  const size_t v = static_cast<size_t>(vocab);
  // The tokenizer-limited range generation samples from, and a narrower one.
  const int32_t tokVocab = static_cast<int32_t>(std::min<int64_t>(vocab, test::tokenizer().vocabSize()));
  for (int32_t greedyVocab : {tokVocab, tokVocab - 5}) {
    std::vector<std::vector<int32_t>> prompts;
    std::vector<PrefillItem> items;
    for (int i = 0; i < kRows; ++i) {
      prompts.push_back(test::promptIds(3 + 4 * static_cast<size_t>(i), 500 + static_cast<uint32_t>(i)));
    }
    for (int i = 0; i < kRows; ++i) items.push_back({prompts[static_cast<size_t>(i)], i, false});
    const std::vector<RowOutput> kinds = {RowOutput::kGreedy, RowOutput::kLogits, RowOutput::kNone,
                                          RowOutput::kGreedy, RowOutput::kGreedy, RowOutput::kLogits};
    std::vector<float> want;
    StepOutputs out;
    ASSERT_TRUE(ref->prefillLogits(items, &want).isOk());
    ASSERT_TRUE(dut->prefill(items, RowRequest{kinds, greedyVocab}, &out).isOk());
    std::vector<int32_t> tokens(kRows), slots(kRows);
    for (int step = 0; step < 8; ++step) {
      ASSERT_EQ(want.size(), kRows * v);
      ASSERT_EQ(out.greedy.size(), static_cast<size_t>(kRows));
      ASSERT_EQ(out.logits.size(), 2 * v);
      size_t full = 0;
      for (int k = 0; k < kRows; ++k) {
        const std::span<const float> row = std::span<const float>(want).subspan(static_cast<size_t>(k) * v, v);
        const Sampler::Result host = hostGreedy(row.first(static_cast<size_t>(greedyVocab)));
        switch (kinds[static_cast<size_t>(k)]) {
          case RowOutput::kGreedy: {
            const GreedyPick& g = out.greedy[static_cast<size_t>(k)];
            EXPECT_EQ(g.token, host.token) << "step " << step << " row " << k;
            EXPECT_EQ(bitsOf(g.logprob), bitsOf(host.logprob)) << "step " << step << " row " << k;
            EXPECT_LT(g.token, greedyVocab);
            break;
          }
          case RowOutput::kLogits:
            EXPECT_TRUE(std::equal(row.begin(), row.end(), out.logits.begin() + static_cast<long>(full * v)))
                << "step " << step << " row " << k;
            ++full;
            break;
          case RowOutput::kNone: break;
        }
        // The device reduction on the same logits: the same token, the logprob to rounding.
        torch::Tensor t = torch::from_blob(const_cast<float*>(row.data()), {1, vocab}, torch::kFloat32);
        torch::Tensor r = greedyReduce(t, greedyVocab);
        EXPECT_EQ(static_cast<int32_t>(r[0][0].item<double>()), host.token);
        EXPECT_NEAR(r[0][1].item<double>(), host.logprob, 1e-9 + 1e-6 * std::abs(host.logprob));
        tokens[static_cast<size_t>(k)] = host.token;
        slots[static_cast<size_t>(k)] = k;
      }
      ASSERT_TRUE(ref->decodeLogits(tokens, slots, &want).isOk());
      ASSERT_TRUE(dut->decode(tokens, slots, RowRequest{kinds, greedyVocab}, &out).isOk());
    }
    // No outputs at all: nothing needed, not even `out`.
    ASSERT_TRUE(dut->decode(tokens, slots, RowRequest{}, nullptr).isOk());
    ASSERT_TRUE(ref->decodeLogits(tokens, slots, nullptr).isOk());
  }
}

TEST(TorchBackendRows, BadRequestsAreRejected) {
  auto b = test::loadBackend(2);
  const std::vector<int32_t> prompt = {1, 2, 3};
  const PrefillItem item{prompt, 0, false};
  StepOutputs out;
  const std::vector<RowOutput> two = {RowOutput::kGreedy, RowOutput::kGreedy};
  EXPECT_EQ(b->prefill(std::span<const PrefillItem>(&item, 1), RowRequest{two, 0}, &out).code(),
            StatusCode::kInvalidArgument);
  const std::vector<RowOutput> one = {RowOutput::kLogits};
  EXPECT_EQ(b->prefill(std::span<const PrefillItem>(&item, 1), RowRequest{one, 0}, nullptr).code(),
            StatusCode::kInvalidArgument);
  const int32_t tooWide = static_cast<int32_t>(b->info().vocabSize) + 1;
  EXPECT_EQ(b->prefill(std::span<const PrefillItem>(&item, 1), RowRequest{one, tooWide}, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(b->prefill(std::span<const PrefillItem>(&item, 1), RowRequest{one, 0}, &out).isOk());
  EXPECT_EQ(out.logits.size(), static_cast<size_t>(b->info().vocabSize));
}

}  // namespace
}  // namespace mamba
