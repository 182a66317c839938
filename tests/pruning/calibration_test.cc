// Calibration scores against a direct, independent computation (an explicit per-token forward
// in double precision), invariance to batching and windows, the observer hook, the
// data-free scores and the score file.
#include "pruning/calibration.h"

#include <cmath>

#include <gtest/gtest.h>

#include "server/model/ssd.h"
#include "tests/pruning/pruning_test_util.h"

namespace mamba::pruning {
namespace {

namespace F = torch::nn::functional;
using testing::SmallModel;
using testing::smallModel;

struct Direct {
  ScoreTable deltaB, output;
  std::vector<std::vector<double>> headDelta;
  int64_t tokens = 0;
};

// One window from a zero state: embedding -> layers (explicit causal conv, per-token SSM
// recurrence keeping every state) in fp64, accumulating the score sums.
void directWindow(const ModelConfig& c, const ModelWeights& w, const std::vector<int32_t>& ids, Direct& acc) {
  torch::NoGradGuard noGrad;
  const auto f64 = torch::kFloat64;
  const int64_t L = static_cast<int64_t>(ids.size()), Di = c.dInner, H = c.nHeads, P = c.headDim, G = c.nGroups;
  const int64_t K = c.convKernel;
  std::vector<int64_t> idv(ids.begin(), ids.end());
  torch::Tensor h = w.embedding.to(f64).index_select(0, torch::tensor(idv, torch::kLong));
  torch::Tensor residual;
  for (int64_t l = 0; l < c.nLayer; ++l) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    const int64_t N = c.stateSize(l), CD = c.convDim(l);
    residual = l == 0 ? h : residual + h;
    torch::Tensor u = rmsNorm(residual, lw.norm.to(f64), c.normEps, f64);
    torch::Tensor zx = F::linear(u, lw.inProj.to(f64), lw.inProjBias.defined() ? lw.inProjBias.to(f64) : torch::Tensor());
    torch::Tensor z = zx.narrow(1, 0, Di), xBC = zx.narrow(1, Di, CD), dtRaw = zx.narrow(1, Di + CD, H);
    torch::Tensor conv = lw.convBias.to(f64).unsqueeze(0).repeat({L, 1});
    torch::Tensor cw = lw.convWeight.to(f64);
    for (int64_t t = 0; t < L; ++t) {
      for (int64_t k = 0; k < K; ++k) {
        const int64_t src = t - (K - 1) + k;
        if (src >= 0) conv[t] += cw.select(1, k) * xBC[src];
      }
    }
    torch::Tensor act = torch::silu(conv);
    torch::Tensor x = act.narrow(1, 0, Di).view({L, H, P});
    torch::Tensor Bh = act.narrow(1, Di, G * N).view({L, G, N}).repeat_interleave(H / G, 1);      // (L, H, N)
    torch::Tensor Ch = act.narrow(1, Di + G * N, G * N).view({L, G, N}).repeat_interleave(H / G, 1);
    torch::Tensor dt = F::softplus(dtRaw + lw.dtBias.to(f64));                                       // (L, H)
    torch::Tensor A = -torch::exp(lw.aLog.to(f64));
    torch::Tensor S = torch::zeros({H, P, N}, f64);
    torch::Tensor y = torch::zeros({L, H, P}, f64);
    for (int64_t t = 0; t < L; ++t) {
      S = S * torch::exp(dt[t] * A).view({H, 1, 1}) + (dt[t].view({H, 1}) * x[t]).unsqueeze(2) * Bh[t].unsqueeze(1);
      y[t] = (S * Ch[t].unsqueeze(1)).sum(2) + lw.D.to(f64).view({H, 1}) * x[t];
      torch::Tensor out = (S * Ch[t].unsqueeze(1)).abs().sum(1).view({G, H / G, N}).sum(1);        // (G, N)
      torch::Tensor db = (dt[t].view({H, 1}) * Bh[t].abs()).view({G, H / G, N}).sum(1);
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t s = 0; s < N; ++s) {
          acc.output[static_cast<size_t>(l)].at(g, s) += out[g][s].item<double>();
          acc.deltaB[static_cast<size_t>(l)].at(g, s) += db[g][s].item<double>();
        }
      }
      for (int64_t hh = 0; hh < H; ++hh) acc.headDelta[static_cast<size_t>(l)][static_cast<size_t>(hh)] += dt[t][hh].item<double>();
    }
    torch::Tensor o = gatedRmsNorm(y.view({L, Di}), z, lw.gatedNorm.to(f64), G, c.normEps, f64);
    h = F::linear(o, lw.outProj.to(f64), lw.outProjBias.defined() ? lw.outProjBias.to(f64) : torch::Tensor());
  }
  acc.tokens += L;
}

Direct directScores(const SmallModel& m, const std::vector<int32_t>& ids, size_t context) {
  Direct d;
  for (int64_t l = 0; l < m.config.nLayer; ++l) {
    d.deltaB.push_back(LayerScores::zeros(m.config.nGroups, m.config.stateSize(l)));
    d.output.push_back(LayerScores::zeros(m.config.nGroups, m.config.stateSize(l)));
    d.headDelta.emplace_back(static_cast<size_t>(m.config.nHeads), 0.0);
  }
  for (size_t s = 0; s < ids.size(); s += context) {
    directWindow(m.config, m.weights, std::vector<int32_t>(ids.begin() + static_cast<long>(s),
                                                           ids.begin() + static_cast<long>(std::min(ids.size(), s + context))), d);
  }
  const double T = static_cast<double>(d.tokens), hpg = static_cast<double>(m.config.nHeads / m.config.nGroups);
  for (size_t l = 0; l < d.deltaB.size(); ++l) {
    for (double& v : d.deltaB[l].values) v /= T * hpg;
    for (double& v : d.output[l].values) v /= T * hpg * static_cast<double>(m.config.headDim);
    for (double& v : d.headDelta[l]) v /= T;
  }
  return d;
}

double tableErr(const ScoreTable& a, const ScoreTable& b) {
  double err = 0, scale = 0;
  for (size_t l = 0; l < b.size(); ++l) {
    for (size_t i = 0; i < b[l].values.size(); ++i) {
      err = std::max(err, std::abs(a[l].values[i] - b[l].values[i]));
      scale = std::max(scale, std::abs(b[l].values[i]));
    }
  }
  return err / scale;
}

TEST(CalibrationTest, ScoresMatchADirectComputation) {
  SmallModel m = smallModel(/*groups=*/2, /*N=*/7, /*bias=*/true, /*layers=*/2);
  Mamba2Model model(m.config, m.weights);
  const std::vector<int32_t> ids = testing::randomIds(50, 512, 4);
  CalibrationOptions o;
  o.context = 20;  // windows 20, 20, 10; with batch 2 the last prefill is ragged-free, the first is full
  o.batch = 2;
  std::vector<std::pair<int64_t, int64_t>> progress;
  o.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  auto s = calibrate(model, ids, o);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  Direct d = directScores(m, ids, 20);
  EXPECT_EQ(s->tokens, 50);
  EXPECT_LE(tableErr(s->methods.at("delta_b"), d.deltaB), 1e-5);
  EXPECT_LE(tableErr(s->methods.at("output"), d.output), 1e-5);
  for (size_t l = 0; l < d.headDelta.size(); ++l) {
    for (size_t h = 0; h < d.headDelta[l].size(); ++h) EXPECT_NEAR(s->headDelta[l][h], d.headDelta[l][h], 1e-6 * d.headDelta[l][h]);
  }
  EXPECT_EQ(progress, (std::vector<std::pair<int64_t, int64_t>>{{40, 50}, {50, 50}}));
  EXPECT_EQ(s->corpusHash, corpusHash(ids));
}

TEST(CalibrationTest, BatchingAndRaggedWindowsDoNotChangeScores) {
  SmallModel m = smallModel(1, 16, false, 2);
  Mamba2Model model(m.config, m.weights);
  const std::vector<int32_t> ids = testing::randomIds(70, 512, 5);  // windows 32, 32, 6
  CalibrationOptions a, b;
  a.context = b.context = 32;
  a.batch = 1;
  b.batch = 3;  // one ragged prefill of 32, 32, 6
  auto sa = calibrate(model, ids, a), sb = calibrate(model, ids, b);
  ASSERT_TRUE(sa.isOk() && sb.isOk());
  for (const char* method : {"delta_b", "output"}) {
    EXPECT_LE(tableErr(sb->methods.at(method), sa->methods.at(method)), 1e-6) << method;
  }
}

TEST(CalibrationTest, TokenBudgetLimitsTheCorpus) {
  SmallModel m = smallModel(1, 16, false, 1);
  Mamba2Model model(m.config, m.weights);
  const std::vector<int32_t> ids = testing::randomIds(40, 512, 6);
  CalibrationOptions o;
  o.maxTokens = 25;
  o.context = 10;
  auto s = calibrate(model, ids, o);
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->tokens, 25);
  EXPECT_EQ(s->corpusHash, corpusHash(std::span<const int32_t>(ids).first(25)));
  EXPECT_FALSE(calibrate(model, {}, o).isOk());
  o.context = 0;
  EXPECT_FALSE(calibrate(model, ids, o).isOk());
}

class RecordingObserver final : public MixerObserver {
 public:
  void onMixer(const MixerTrace& t) override {
    layers.push_back(t.layer);
    shapes.push_back(t.B.sizes().vec());
    lengths = t.lengths.clone();
  }
  std::vector<int64_t> layers;
  std::vector<std::vector<int64_t>> shapes;
  torch::Tensor lengths;
};

TEST(CalibrationTest, ObserverSeesEveryLayerAndDoesNotChangeLogits) {
  SmallModel m = smallModel(2, 7, false, 3);
  Mamba2Model model(m.config, m.weights);
  const std::vector<int32_t> a = testing::randomIds(9, 512, 1), b = testing::randomIds(4, 512, 2);
  StatePool p1(m.config, 2, torch::kCPU), p2(m.config, 2, torch::kCPU);
  RecordingObserver obs;
  torch::Tensor with = model.prefill({{a, 0, false}, {b, 1, false}}, p1, LogitsMode::kAll, &obs);
  torch::Tensor without = model.prefill({{a, 0, false}, {b, 1, false}}, p2, LogitsMode::kAll);
  EXPECT_TRUE(torch::equal(with, without));
  EXPECT_EQ(obs.layers, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(obs.shapes[0], (std::vector<int64_t>{2, 9, 2, 7}));
  EXPECT_EQ(obs.lengths[1].item<int64_t>(), 4);
}

TEST(CalibrationTest, WeightScoresAreRowNormProducts) {
  SmallModel m = smallModel(2, 7, false, 2);
  ScoreTable t = weightScores(m.config, m.weights);
  ASSERT_EQ(t.size(), 2u);
  const torch::Tensor& w = m.weights.layers[1].inProj;
  const int64_t Di = m.config.dInner;
  // Group 1, state 3: B row 2Di + 7 + 3, C row 2Di + 14 + 7 + 3.
  const double want = w[2 * Di + 10].norm().item<double>() * w[2 * Di + 24].norm().item<double>();
  EXPECT_NEAR(t[1].at(1, 3), want, 1e-6 * want);
}

TEST(CalibrationTest, RandomScoresAreSeeded) {
  SmallModel m = smallModel(2, 7, false, 2);
  ScoreTable a = randomScores(m.config, 1), b = randomScores(m.config, 1), c = randomScores(m.config, 2);
  EXPECT_EQ(a[1].values, b[1].values);
  EXPECT_NE(a[1].values, c[1].values);
  for (double v : a[0].values) EXPECT_TRUE(v >= 0.0 && v < 1.0);
}

TEST(CalibrationTest, ScoreFileRoundTrips) {
  SmallModel m = smallModel(2, 7, false, 2);
  Mamba2Model model(m.config, m.weights);
  const std::vector<int32_t> ids = testing::randomIds(12, 512, 3);
  auto s = calibrate(model, ids, {});
  ASSERT_TRUE(s.isOk());
  s->modelPath = "models/x";
  s->corpusSource = "text.txt";
  testing::TempDir dir;
  const std::string path = (dir.path() / "scores.json").string();
  ASSERT_TRUE(s->save(path).isOk());
  auto back = StateScores::load(path);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->modelPath, "models/x");
  EXPECT_EQ(back->corpusHash, s->corpusHash);
  EXPECT_EQ(back->tokens, 12);
  for (const auto& method : scoreMethods()) {
    ASSERT_TRUE(back->table(method).isOk()) << method;
    EXPECT_LE(tableErr(**back->table(method), s->methods.at(method)), 1e-15) << method;
  }
  EXPECT_FALSE(back->table("delta").isOk());
  EXPECT_EQ(corpusHash({}), "cbf29ce484222325");  // FNV-1a 64 offset basis
  EXPECT_FALSE(StateScores::fromJson("{\"format\": \"other\"}", "x").isOk());
  EXPECT_FALSE(StateScores::fromJson("not json", "x").isOk());
}

}  // namespace
}  // namespace mamba::pruning
