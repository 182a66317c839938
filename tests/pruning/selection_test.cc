// Selection: keep counts, per-layer top-k with deterministic ties, the global budget with
// per-layer normalization, and argument errors. Torch-free.
#include "pruning/selection.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace mamba::pruning {
namespace {

LayerScores layer(int64_t groups, std::vector<double> v) {
  LayerScores l;
  l.groups = groups;
  l.stateSize = static_cast<int64_t>(v.size()) / groups;
  l.values = std::move(v);
  return l;
}

TEST(SelectionTest, KeepCountIsFloorWithAtLeastOne) {
  EXPECT_EQ(keepCount(128, 0.5), 64);
  EXPECT_EQ(keepCount(100, 0.9), 10);  // 100·0.1 is 9.999… in binary
  EXPECT_EQ(keepCount(128, 0.9), 12);
  EXPECT_EQ(keepCount(64, 0.7), 19);
  EXPECT_EQ(keepCount(7, 0.5), 3);
  EXPECT_EQ(keepCount(16, 0.99), 1);
  EXPECT_EQ(keepCount(1, 0.5), 1);
  EXPECT_EQ(keepCount(10, 0.0), 10);
}

TEST(SelectionTest, PerLayerKeepsTheTopStatesOfEachGroupInOrder) {
  ScoreTable t = {layer(2, {0.1, 0.9, 0.5, 0.7, 0.2, /*g1*/ 3, 1, 4, 1, 5})};
  auto p = selectStates(t, 0.5, SelectionMode::kPerLayer);  // k = floor(5·0.5) = 2
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->kept[0][0], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(p->kept[0][1], (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(p->stateSizes(), std::vector<int64_t>{2});
  EXPECT_EQ(p->keptStates(), 4);
}

TEST(SelectionTest, TiesKeepTheLowerIndex) {
  ScoreTable t = {layer(1, {1, 2, 2, 2, 1, 2})};
  auto p = selectStates(t, 0.5, SelectionMode::kPerLayer);  // k = 3 among four 2's
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->kept[0][0], (std::vector<int64_t>{1, 2, 3}));
  ScoreTable flat = {layer(1, std::vector<double>(8, 0.5))};
  EXPECT_EQ((*selectStates(flat, 0.75, SelectionMode::kPerLayer)).kept[0][0], (std::vector<int64_t>{0, 1}));
}

TEST(SelectionTest, RatioZeroKeepsEverythingInBothModes) {
  ScoreTable t = {layer(2, {1, 2, 3, 4, 5, 6}), layer(2, {0, 0, 0, 9, 9, 9})};
  for (SelectionMode m : {SelectionMode::kPerLayer, SelectionMode::kGlobal}) {
    auto p = selectStates(t, 0.0, m);
    ASSERT_TRUE(p.isOk());
    EXPECT_EQ(p->stateSizes(), (std::vector<int64_t>{3, 3}));
    EXPECT_EQ(p->kept[1][0], (std::vector<int64_t>{0, 1, 2}));
  }
}

TEST(SelectionTest, GlobalSpendsThePerLayerBudgetWhereScoresAreHighest) {
  // Layer 0: flat scores (every state equally useful). Layer 1: two dominant states.
  // Layer 2: layer 1's shape scaled by 1000 (normalization makes it identical to layer 1).
  ScoreTable t = {layer(1, {1, 1, 1, 1, 1, 1, 1, 1}),
                  layer(1, {10, 10, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}),
                  layer(1, {1e4, 1e4, 100, 100, 100, 100, 100, 100})};
  auto p = selectStates(t, 0.5, SelectionMode::kGlobal);
  ASSERT_TRUE(p.isOk());
  std::vector<int64_t> n = p->stateSizes();
  EXPECT_EQ(n[0] + n[1] + n[2], 12);  // Σ floor(8·0.5)
  EXPECT_EQ(n[1], n[2]);
  // Normalized: layer 0 levels are all 1.0; layers 1/2 have 2 levels of 10/2.6 ≈ 3.8, then 0.04.
  EXPECT_EQ(n, (std::vector<int64_t>{8, 2, 2}));
  EXPECT_EQ(p->kept[1][0], (std::vector<int64_t>{0, 1}));
}

TEST(SelectionTest, GlobalKeepsOneStatePerLayerAndEqualGroups) {
  ScoreTable t = {layer(2, {5, 6, 7, 8, 5, 6, 7, 8}), layer(2, {1e-6, 0, 0, 0, 0, 0, 0, 1e-6}),
                  layer(2, {9, 1, 1, 1, 1, 1, 1, 9})};
  auto p = selectStates(t, 0.7, SelectionMode::kGlobal);  // budget Σ max(1, floor(4·0.3)) = 3
  ASSERT_TRUE(p.isOk());
  for (const auto& l : p->kept) {
    ASSERT_EQ(l.size(), 2u);
    EXPECT_GE(l[0].size(), 1u);
    EXPECT_EQ(l[0].size(), l[1].size());
  }
  EXPECT_EQ(p->stateSizes(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(p->kept[2][0], std::vector<int64_t>{0});
  EXPECT_EQ(p->kept[2][1], std::vector<int64_t>{3});
}

TEST(SelectionTest, GlobalTotalsMatchPerLayerTotals) {
  ScoreTable t;
  for (int l = 0; l < 5; ++l) {
    std::vector<double> v;
    for (int s = 0; s < 16; ++s) v.push_back(std::pow(static_cast<double>((s * 7 + l * 3) % 16 + 1), 1 + l));
    t.push_back(layer(1, v));
  }
  for (double r : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    auto g = selectStates(t, r, SelectionMode::kGlobal), pl = selectStates(t, r, SelectionMode::kPerLayer);
    ASSERT_TRUE(g.isOk() && pl.isOk());
    EXPECT_EQ(g->keptStates(), pl->keptStates()) << r;
    for (int64_t n : g->stateSizes()) EXPECT_GE(n, 1);
  }
}

TEST(SelectionTest, BadArgumentsAreRejected) {
  ScoreTable t = {layer(1, {1, 2})};
  EXPECT_FALSE(selectStates(t, 1.0, SelectionMode::kPerLayer).isOk());
  EXPECT_FALSE(selectStates(t, -0.1, SelectionMode::kPerLayer).isOk());
  EXPECT_FALSE(selectStates({}, 0.5, SelectionMode::kGlobal).isOk());
  ScoreTable nan = {layer(1, {1, std::numeric_limits<double>::quiet_NaN()})};
  EXPECT_FALSE(selectStates(nan, 0.5, SelectionMode::kGlobal).isOk());
  EXPECT_TRUE(parseSelectionMode("global").isOk());
  EXPECT_FALSE(parseSelectionMode("layer").isOk());
}

}  // namespace
}  // namespace mamba::pruning
