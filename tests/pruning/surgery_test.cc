// Masked and compacted variants compute the same function (spec §7): logits agree to fp32
// round-off for per-layer and global selections, G > 1, odd N, N_i = 1 and in_proj bias;
// r = 0 is the identity; the conv bias must be zeroed too; exports load in this engine and in
// transformers.
#include "pruning/surgery.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "pruning/calibration.h"
#include "server/model/checkpoint.h"
#include "tests/pruning/pruning_test_util.h"

namespace mamba::pruning {
namespace {

using testing::maxRelErr;
using testing::SmallModel;
using testing::smallModel;

constexpr double kTol = 1e-5;  // fp32 round-off, relative

// Random scores, more skewed in later layers so that global selection gives different N_i.
ScoreTable skewedScores(const ModelConfig& c, uint64_t seed) {
  ScoreTable t = randomScores(c, seed);
  for (size_t l = 0; l < t.size(); ++l) {
    for (double& v : t[l].values) v = std::pow(v, 1.0 + 3.0 * static_cast<double>(l));
  }
  return t;
}

// Logits of a ragged batch (all positions) followed by `steps` decode steps.
struct ModelRun {
  std::vector<torch::Tensor> prefill;  // (L_i, V) per sequence
  std::vector<torch::Tensor> decode;   // (B, V) per step
};

ModelRun runModel(const ModelConfig& c, const ModelWeights& w, int steps = 3) {
  Mamba2Model model(c, w);
  const std::vector<std::vector<int32_t>> seqs = {testing::randomIds(5, 512, 1), testing::randomIds(23, 512, 2),
                                                  testing::randomIds(40, 512, 3)};
  StatePool pool(c, 3, torch::kCPU);
  std::vector<PrefillSequence> in;
  for (size_t i = 0; i < seqs.size(); ++i) in.push_back({seqs[i], static_cast<int32_t>(i), false});
  torch::Tensor all = model.prefill(in, pool, LogitsMode::kAll);
  ModelRun r;
  for (size_t i = 0; i < seqs.size(); ++i) r.prefill.push_back(all[static_cast<int64_t>(i)].narrow(0, 0, static_cast<int64_t>(seqs[i].size())));
  std::vector<int32_t> slots = {0, 1, 2};
  for (int s = 0; s < steps; ++s) {
    std::vector<int32_t> tok = {static_cast<int32_t>(7 + s), static_cast<int32_t>(100 + s), static_cast<int32_t>(300 + s)};
    r.decode.push_back(model.decode(tok, slots, pool));
  }
  return r;
}

torch::Tensor prefillLogits(const ModelConfig& c, const ModelWeights& w, const std::vector<int32_t>& ids) {
  Mamba2Model model(c, w);
  StatePool pool(c, 1, torch::kCPU);
  return model.prefill({{ids, 0, false}}, pool, LogitsMode::kAll)[0];
}

double runErr(const ModelRun& a, const ModelRun& b) {
  double e = 0;
  for (size_t i = 0; i < a.prefill.size(); ++i) e = std::max(e, maxRelErr(a.prefill[i], b.prefill[i]));
  for (size_t i = 0; i < a.decode.size(); ++i) e = std::max(e, maxRelErr(a.decode[i], b.decode[i]));
  return e;
}

struct Case {
  std::string name;
  int64_t groups, stateSize;
  bool bias;
  SelectionMode mode;
  double ratio;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class VariantsAgree : public ::testing::TestWithParam<Case> {};

TEST_P(VariantsAgree, MaskedAndCompactedLogitsMatch) {
  const Case& k = GetParam();
  SmallModel m = smallModel(k.groups, k.stateSize, k.bias, /*layers=*/3);
  auto plan = selectStates(skewedScores(m.config, 11), k.ratio, k.mode);
  ASSERT_TRUE(plan.isOk()) << plan.status().toString();
  auto masked = maskStates(m.config, m.weights, *plan);
  auto compact = compactStates(m.config, m.weights, *plan);
  ASSERT_TRUE(masked.isOk() && compact.isOk());
  EXPECT_EQ(compact->config.stateSizes, plan->stateSizes());
  for (int64_t l = 0; l < m.config.nLayer; ++l) {
    EXPECT_EQ(compact->weights.layers[static_cast<size_t>(l)].inProj.size(0), compact->config.inProjDim(l));
    EXPECT_EQ(compact->weights.layers[static_cast<size_t>(l)].convWeight.size(0), compact->config.convDim(l));
  }
  ModelRun a = runModel(m.config, *masked), b = runModel(compact->config, compact->weights);
  EXPECT_LE(runErr(a, b), kTol) << "state sizes " << ::testing::PrintToString(plan->stateSizes());
  // And pruning changed the model (the comparison is not vacuous).
  EXPECT_GT(runErr(runModel(m.config, m.weights), b), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Selections, VariantsAgree,
    ::testing::Values(Case{"g1_n16_perlayer_half", 1, 16, false, SelectionMode::kPerLayer, 0.5},
                      Case{"g2_n7_bias_perlayer", 2, 7, true, SelectionMode::kPerLayer, 0.3},
                      Case{"g1_n16_perlayer_n1", 1, 16, false, SelectionMode::kPerLayer, 0.99},
                      Case{"g2_n7_bias_global", 2, 7, true, SelectionMode::kGlobal, 0.5},
                      Case{"g1_n16_global_high", 1, 16, false, SelectionMode::kGlobal, 0.9},
                      Case{"g4_n5_global", 4, 5, false, SelectionMode::kGlobal, 0.7}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(SurgeryTest, GlobalSelectionGivesMixedStateSizes) {
  SmallModel m = smallModel(1, 16, false, 3);
  auto plan = selectStates(skewedScores(m.config, 11), 0.5, SelectionMode::kGlobal);
  ASSERT_TRUE(plan.isOk());
  auto sizes = plan->stateSizes();
  EXPECT_FALSE(std::equal(sizes.begin() + 1, sizes.end(), sizes.begin())) << ::testing::PrintToString(sizes);
}

TEST(SurgeryTest, RatioZeroIsTheIdentity) {
  SmallModel m = smallModel(2, 7, true);
  for (SelectionMode mode : {SelectionMode::kPerLayer, SelectionMode::kGlobal}) {
    auto plan = selectStates(randomScores(m.config, 3), 0.0, mode);
    ASSERT_TRUE(plan.isOk());
    auto c = compactStates(m.config, m.weights, *plan);
    auto mk = maskStates(m.config, m.weights, *plan);
    ASSERT_TRUE(c.isOk() && mk.isOk());
    EXPECT_EQ(c->config.stateSizes, m.config.stateSizes);
    for (size_t l = 0; l < m.weights.layers.size(); ++l) {
      EXPECT_TRUE(torch::equal(c->weights.layers[l].inProj, m.weights.layers[l].inProj));
      EXPECT_TRUE(torch::equal(c->weights.layers[l].inProjBias, m.weights.layers[l].inProjBias));
      EXPECT_TRUE(torch::equal(c->weights.layers[l].convWeight, m.weights.layers[l].convWeight));
      EXPECT_TRUE(torch::equal(c->weights.layers[l].convBias, m.weights.layers[l].convBias));
      EXPECT_TRUE(torch::equal(mk->layers[l].inProj, m.weights.layers[l].inProj));
      EXPECT_TRUE(torch::equal(mk->layers[l].convBias, m.weights.layers[l].convBias));
    }
    EXPECT_EQ(runErr(runModel(c->config, c->weights), runModel(m.config, m.weights)), 0.0);
  }
}

TEST(SurgeryTest, ZeroingOnlyInProjRowsIsNotEnough) {
  SmallModel m = smallModel(1, 16, false);
  auto plan = selectStates(randomScores(m.config, 5), 0.5, SelectionMode::kPerLayer);
  ASSERT_TRUE(plan.isOk());
  auto compact = compactStates(m.config, m.weights, *plan);
  ASSERT_TRUE(compact.isOk());
  const ModelRun want = runModel(compact->config, compact->weights);
  // Variant 1: in_proj rows only. Variant 2: in_proj rows and conv weights, but not the bias.
  ModelWeights rowsOnly = m.weights, noBias = m.weights;
  for (int64_t l = 0; l < m.config.nLayer; ++l) {
    auto& kept = plan->kept[static_cast<size_t>(l)][0];
    std::vector<int64_t> rows;
    for (int64_t s = 0; s < 16; ++s) {
      if (std::find(kept.begin(), kept.end(), s) != kept.end()) continue;
      rows.push_back(inProjRowOfB(m.config, l, 0, s));
      rows.push_back(inProjRowOfC(m.config, l, 0, s));
    }
    torch::Tensor idx = torch::tensor(rows, torch::kLong);
    auto& a = rowsOnly.layers[static_cast<size_t>(l)];
    a.inProj = a.inProj.clone().index_fill_(0, idx, 0);
    auto& b = noBias.layers[static_cast<size_t>(l)];
    b.inProj = b.inProj.clone().index_fill_(0, idx, 0);
    b.convWeight = b.convWeight.clone().index_fill_(0, idx - m.config.dInner, 0);
  }
  EXPECT_GT(runErr(runModel(m.config, rowsOnly), want), 1e-3);
  EXPECT_GT(runErr(runModel(m.config, noBias), want), 1e-3);  // SiLU(conv bias) != 0 survives
  auto masked = maskStates(m.config, m.weights, *plan);
  ASSERT_TRUE(masked.isOk());
  EXPECT_LE(runErr(runModel(m.config, *masked), want), kTol);
}

TEST(SurgeryTest, IndexArithmeticOfTheSpec) {
  // Spec §3 / §7.2 for mamba2-130m: B rows 3072..3199, C rows 3200..3327, conv = row - Di.
  ModelConfig c = presetConfig("130m").value();
  EXPECT_EQ(inProjRowOfB(c, 0, 0, 0), 3072);
  EXPECT_EQ(inProjRowOfB(c, 0, 0, 127), 3199);
  EXPECT_EQ(inProjRowOfC(c, 0, 0, 0), 3200);
  EXPECT_EQ(inProjRowOfC(c, 23, 0, 127), 3327);
  c.nGroups = 2;  // G·N = 256: C of group 1, state 5 = 2Di + GN + N + 5
  EXPECT_EQ(inProjRowOfC(c, 0, 1, 5), 3072 + 256 + 128 + 5);
}

TEST(SurgeryTest, CompactedKeepsRowsInOriginalOrder) {
  SmallModel m = smallModel(2, 7, true, 1);
  PruningPlan plan;
  plan.kept = {{{1, 4, 6}, {0, 2, 5}}};
  auto c = compactStates(m.config, m.weights, plan);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  const LayerWeights &src = m.weights.layers[0], &dst = c->weights.layers[0];
  const int64_t Di = m.config.dInner, H = m.config.nHeads;
  EXPECT_EQ(dst.inProj.size(0), 2 * Di + 2 * 2 * 3 + H);
  EXPECT_TRUE(torch::equal(dst.inProj.narrow(0, 0, 2 * Di), src.inProj.narrow(0, 0, 2 * Di)));
  std::vector<int64_t> want;
  for (int64_t g = 0; g < 2; ++g) {
    for (int64_t s : plan.kept[0][static_cast<size_t>(g)]) want.push_back(inProjRowOfB(m.config, 0, g, s));
  }
  for (int64_t g = 0; g < 2; ++g) {
    for (int64_t s : plan.kept[0][static_cast<size_t>(g)]) want.push_back(inProjRowOfC(m.config, 0, g, s));
  }
  torch::Tensor idx = torch::tensor(want, torch::kLong);
  EXPECT_TRUE(torch::equal(dst.inProj.narrow(0, 2 * Di, 12), src.inProj.index_select(0, idx)));
  EXPECT_TRUE(torch::equal(dst.inProjBias.narrow(0, 2 * Di, 12), src.inProjBias.index_select(0, idx)));
  EXPECT_TRUE(torch::equal(dst.convBias.narrow(0, Di, 12), src.convBias.index_select(0, idx - Di)));
  EXPECT_TRUE(torch::equal(dst.convWeight.narrow(0, Di, 12), src.convWeight.index_select(0, idx - Di)));
  EXPECT_TRUE(torch::equal(dst.inProj.narrow(0, 2 * Di + 12, H), src.inProj.narrow(0, 2 * Di + 28, H)));  // dt rows
}

TEST(SurgeryTest, BadPlansAreRejected) {
  SmallModel m = smallModel(2, 7, false, 1);
  auto bad = [&](std::vector<std::vector<std::vector<int64_t>>> kept, const std::string& needle) {
    PruningPlan p;
    p.kept = std::move(kept);
    Status s = compactStates(m.config, m.weights, p).status();
    EXPECT_FALSE(s.isOk());
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  bad({}, "layers");
  bad({{{0, 1}}}, "groups");
  bad({{{0, 1}, {2}}}, "different numbers");
  bad({{{0, 7}, {1, 2}}}, "out of range");
  bad({{{3, 1}, {1, 2}}}, "ascending");
  bad({{{}, {}}}, "at least one");
}

// Export: a compacted model with equal N_i is a valid HF Mamba2 checkpoint (state_size = N');
// this engine and transformers give the same logits. Mixed N_i round-trip through our loader.
TEST(SurgeryTest, CompactedExportLoadsHereAndInTransformers) {
  SmallModel m = smallModel(1, 16, false, 2);
  testing::TempDir dir;
  auto plan = selectStates(skewedScores(m.config, 2), 0.5, SelectionMode::kPerLayer);
  ASSERT_TRUE(plan.isOk());
  auto c = compactStates(m.config, m.weights, *plan);
  ASSERT_TRUE(c.isOk());
  ASSERT_TRUE(saveHfCheckpoint(c->config, c->weights, dir.str()).isOk());
  auto back = loadCheckpoint(dir.str(), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->config.stateSizes, std::vector<int64_t>({8, 8}));
  const std::vector<int32_t> ids = testing::randomIds(37, 512, 9);
  torch::Tensor logits = prefillLogits(back->config, back->weights, ids);
  EXPECT_TRUE(torch::equal(logits, prefillLogits(c->config, c->weights, ids)));

  const std::string python = MAMBA_PYTHON_EXECUTABLE;
  if (!std::filesystem::exists(python)) GTEST_SKIP() << "no python at " << python;
  nlohmann::json j = {{"ids", ids}, {"state_size", 8}};
  std::vector<std::vector<float>> rows;
  torch::Tensor lc = logits.contiguous();
  for (int64_t t = 0; t < lc.size(0); ++t) rows.emplace_back(lc[t].data_ptr<float>(), lc[t].data_ptr<float>() + lc.size(1));
  j["logits"] = rows;
  std::ofstream(dir.path() / "expected.json") << j.dump();
  const std::string cmd = "'" + python + "' '" + std::string(MAMBA_SOURCE_DIR) + "/tests/pruning/hf_pruned_check.py' '" + dir.str() + "'";
  const int rc = std::system(cmd.c_str());
  ASSERT_NE(rc, -1);
  if (WEXITSTATUS(rc) == 77) GTEST_SKIP() << "transformers not available";
  EXPECT_EQ(WEXITSTATUS(rc), 0) << cmd;
}

TEST(SurgeryTest, MixedStateSizesRoundTripThroughOurCheckpoint) {
  SmallModel m = smallModel(2, 7, true, 3);
  testing::TempDir dir;
  auto plan = selectStates(skewedScores(m.config, 11), 0.5, SelectionMode::kGlobal);
  ASSERT_TRUE(plan.isOk());
  auto c = compactStates(m.config, m.weights, *plan);
  ASSERT_TRUE(c.isOk());
  ASSERT_FALSE(c->config.uniformStateSize());
  ASSERT_TRUE(saveHfCheckpoint(c->config, c->weights, dir.str()).isOk());
  auto back = loadCheckpoint(dir.str(), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->config.stateSizes, c->config.stateSizes);
  EXPECT_EQ(runErr(runModel(back->config, back->weights), runModel(c->config, c->weights)), 0.0);
}

}  // namespace
}  // namespace mamba::pruning
