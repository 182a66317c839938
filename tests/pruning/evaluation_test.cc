// Evaluation on an in-memory model: perplexity equals the engine's protocol
// (mamba::evaluatePerplexity through a loaded backend), multiple choice equals a direct
// per-sequence computation, and a small sweep runs end to end.
#include "pruning/evaluation.h"

#include <fstream>

#include <gtest/gtest.h>

#include "pruning/calibration.h"
#include "pruning/sweep.h"
#include "server/engine/offline.h"
#include "server/model/checkpoint.h"
#include "tests/pruning/pruning_test_util.h"

namespace mamba::pruning {
namespace {

using testing::SmallModel;
using testing::smallModel;

std::unique_ptr<Tokenizer> byteTokenizer() {
  auto t = Tokenizer::fromJson(::mamba::testing::byteLevelTokenizerJson(), "bytes");
  EXPECT_TRUE(t.isOk()) << t.status().toString();
  return std::move(t).value();
}

TokenBytesFn bytesOf(const Tokenizer& tok) {
  return [&tok](int32_t id) { return static_cast<int64_t>(tok.tokenBytes(id).size()); };
}

const char* kText =
    "The tower is 324 metres tall, about the same height as an 81-storey building. Its base is square, "
    "measuring 125 metres on each side. During its construction, the Eiffel Tower surpassed the "
    "Washington Monument to become the tallest man-made structure in the world.";

TEST(EvaluationTest, PerplexityMatchesTheEngineProtocol) {
  SmallModel m = smallModel(1, 16, false, 2);
  testing::TempDir dir;
  ASSERT_TRUE(saveHfCheckpoint(m.config, m.weights, dir.str()).isOk());
  BackendOptions o;
  o.modelDir = dir.str();
  o.numSlots = 1;
  auto backend = loadTorchBackend(o);
  ASSERT_TRUE(backend.isOk()) << backend.status().toString();
  auto tok = byteTokenizer();
  std::vector<int32_t> ids = tok->encode(kText);
  auto want = mamba::evaluatePerplexity(**backend, *tok, ids, 40);
  ASSERT_TRUE(want.isOk());
  Mamba2Model model(m.config, m.weights);
  for (int64_t batch : {1, 3}) {
    auto got = windowPerplexity(model, ids, 40, batch, bytesOf(*tok));
    ASSERT_TRUE(got.isOk()) << got.status().toString();
    EXPECT_EQ(got->tokensScored, want->tokensScored);
    EXPECT_EQ(got->bytesScored, want->bytesScored);
    EXPECT_NEAR(got->nllSum, want->nllSum, 1e-5 * want->nllSum) << "batch " << batch;
  }
  EXPECT_FALSE(windowPerplexity(model, ids, 1, 1, bytesOf(*tok)).isOk());
}

TEST(EvaluationTest, MultipleChoiceEqualsDirectScoring) {
  SmallModel m = smallModel(1, 16, false, 2);
  Mamba2Model model(m.config, m.weights);
  auto tok = byteTokenizer();
  std::vector<McDoc> docs = {
      {"Question: How do you dry wet socks?\nAnswer:", {"Hang them up.", "Put them in a bucket of water for a week."}, 0},
      {"Question: Which is a liquid?\nAnswer:", {"ice", "water", "steam"}, 1},
      {"The sun is responsible for", {"puppies learning new tricks", "plants sprouting"}, 1},
      {"", {"empty context uses the EOS id"}, 0}};
  // Direct: each (context, " " + choice) alone; sum log p of the continuation bytes.
  int64_t acc = 0, accNorm = 0;
  for (const McDoc& d : docs) {
    std::vector<double> ll;
    for (const std::string& c : d.choices) {
      std::vector<int32_t> ctx = d.context.empty() ? std::vector<int32_t>{0} : tok->encode(d.context);
      std::vector<int32_t> cont = tok->encode(" " + c);
      std::vector<int32_t> all = ctx;
      all.insert(all.end(), cont.begin(), cont.end());
      StatePool pool(m.config, 1, torch::kCPU);
      torch::Tensor lp = torch::log_softmax(
          model.prefill({{all, 0, false}}, pool, LogitsMode::kAll)[0].narrow(1, 0, m.config.rawVocabSize), -1);
      double sum = 0;
      for (size_t j = 0; j < cont.size(); ++j) sum += lp[static_cast<int64_t>(ctx.size() + j - 1)][cont[j]].item<double>();
      ll.push_back(sum);
    }
    McPrediction p = predictChoice(ll, d.choices);
    acc += p.pred == d.gold;
    accNorm += p.predNorm == d.gold;
  }
  for (int64_t batch : {1, 4}) {
    auto r = evaluateMultipleChoice(model, *tok, docs, batch);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->docs, 4);
    EXPECT_DOUBLE_EQ(r->acc, static_cast<double>(acc) / 4);
    EXPECT_DOUBLE_EQ(r->accNorm, static_cast<double>(accNorm) / 4);
  }
}

TEST(EvaluationTest, ContinuationLogLikelihoodsDoNotDependOnBatch) {
  SmallModel m = smallModel(2, 7, true, 2);
  Mamba2Model model(m.config, m.weights);
  std::vector<EncodedRequest> reqs = {{testing::randomIds(5, 512, 1), testing::randomIds(3, 512, 2)},
                                      {testing::randomIds(17, 512, 3), testing::randomIds(1, 512, 4)},
                                      {testing::randomIds(2, 512, 5), testing::randomIds(30, 512, 6)}};
  auto a = continuationLogLikelihoods(model, reqs, 1), b = continuationLogLikelihoods(model, reqs, 3);
  ASSERT_TRUE(a.isOk() && b.isOk());
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_NEAR((*a)[i], (*b)[i], 1e-4 * std::abs((*a)[i]));
  EXPECT_FALSE(continuationLogLikelihoods(model, {{{1}, {}}}, 1).isOk());
}

TEST(EvaluationTest, SweepRunsEveryPointAndReusesTheDenseBaseline) {
  SmallModel m = smallModel(1, 16, false, 2);
  Mamba2Model model(m.config, m.weights);
  auto tok = byteTokenizer();
  std::vector<int32_t> ids = tok->encode(kText);
  CalibrationOptions co;
  co.context = 64;
  auto scores = calibrate(model, ids, co);
  ASSERT_TRUE(scores.isOk());
  SweepOptions o;
  o.ratios = {0.0, 0.5, 0.9};
  o.context = 64;
  int seen = 0;
  auto rows = runSweep(m.config, m.weights, *scores, ids, bytesOf(*tok), o, [&](const SweepRow&) { ++seen; });
  ASSERT_TRUE(rows.isOk()) << rows.status().toString();
  ASSERT_EQ(rows->size(), 2u * 4u * 3u);
  EXPECT_EQ(seen, 24);
  const double dense = (*rows)[0].ppl.nllSum;
  for (const SweepRow& r : *rows) {
    if (r.ratio == 0.0) {
      EXPECT_EQ(r.ppl.nllSum, dense);
    }
    if (r.ratio == 0.5 && r.mode == SelectionMode::kPerLayer) {
      EXPECT_EQ(r.stateSizes, (std::vector<int64_t>{8, 8}));
    }
    if (r.ratio == 0.9) {
      EXPECT_EQ(r.keptStates, 2);  // max(1, floor(1.6)) per layer, both modes
    }
    EXPECT_TRUE(std::isfinite(r.ppl.perplexity()));
  }
  const std::string csv = sweepCsv(*rows), md = sweepMarkdown(*rows);
  EXPECT_EQ(csv.rfind("method,mode,ratio,kept_states", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 25);
  EXPECT_NE(md.find("per-layer"), std::string::npos);
  EXPECT_NE(md.find("| delta_b |"), std::string::npos);
}

}  // namespace
}  // namespace mamba::pruning
