// The served state padding (state_padding.h): zero channels appended to each state group leave
// the model's function unchanged (logits, and the states of the kept channels), the padded
// channels' states stay exactly zero, and the kept rows are moved, not altered.
#include "server/model/state_padding.h"

#include <gtest/gtest.h>

#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

using testing::maxRelErr;

// The tiny preset (H = 8, P = 16, two layers) with odd state sizes, `groups` groups, and random
// in_proj biases (the preset has none), so that every padded tensor carries data.
std::pair<ModelConfig, ModelWeights> oddModel(int64_t groups) {
  ModelConfig c = presetConfig("tiny").value();
  c.nGroups = groups;
  c.stateSizes = {13, 7};
  c.projBias = true;
  ModelWeights w = randomWeights(c, 11);
  for (LayerWeights& l : w.layers) l.inProjBias = torch::randn({l.inProj.size(0)}) * 0.1;
  return {c, w};
}

TEST(StatePaddingTest, ServedStateSizes) {
  EXPECT_EQ(paddedStateSize(115, 4), 116);
  EXPECT_EQ(paddedStateSize(116, 4), 116);
  EXPECT_EQ(paddedStateSize(1, 4), 4);
  const torch::Device gpu(torch::kCUDA, 0);  // only named: no device is touched
  // bf16 / fp16: 16 bytes = 8 states, unless that adds more than N/4 channels (then 4).
  for (torch::ScalarType t : {torch::kBFloat16, torch::kFloat16}) {
    EXPECT_EQ(servedStateSize(115, gpu, t), 120);
    EXPECT_EQ(servedStateSize(89, gpu, t), 96);
    EXPECT_EQ(servedStateSize(38, gpu, t), 40);
    EXPECT_EQ(servedStateSize(64, gpu, t), 64);
    EXPECT_EQ(servedStateSize(13, gpu, t), 16);
    EXPECT_EQ(servedStateSize(12, gpu, t), 12);  // 16 would add 33%
    EXPECT_EQ(servedStateSize(5, gpu, t), 8);
    EXPECT_EQ(servedStateSize(1, gpu, t), 4);
  }
  // fp32: 16 bytes = 4 states.
  EXPECT_EQ(servedStateSize(115, gpu, torch::kFloat32), 116);
  EXPECT_EQ(servedStateSize(89, gpu, torch::kFloat32), 92);
  EXPECT_EQ(servedStateSize(12, gpu, torch::kFloat32), 12);
  // The CPU path keeps the checkpoint's N_i.
  EXPECT_EQ(servedStateSize(115, torch::kCPU, torch::kBFloat16), 115);
  EXPECT_EQ(servedStateSize(7, torch::kCPU, torch::kFloat32), 7);
}

TEST(StatePaddingTest, MovesKeptRowsAndZeroesPaddedOnes) {
  for (int64_t G : {1, 2}) {
    auto [c, w] = oddModel(G);
    ModelConfig cp = c;
    ModelWeights wp = w;  // shares tensors; padding replaces (never writes) the padded ones
    auto changed = padStateChannels(cp, wp, {16, 12});
    ASSERT_TRUE(changed.isOk()) << changed.status().toString();
    EXPECT_EQ(*changed, 2);
    EXPECT_EQ(cp.stateSizes, (std::vector<int64_t>{16, 12}));
    const int64_t Di = c.dInner;
    for (int64_t l = 0; l < c.nLayer; ++l) {
      const LayerWeights &a = w.layers[static_cast<size_t>(l)], &b = wp.layers[static_cast<size_t>(l)];
      const int64_t n = c.stateSize(l), np = cp.stateSize(l);
      EXPECT_EQ(b.stateSize, np);
      ASSERT_EQ(b.inProj.size(0), cp.inProjDim(l));
      ASSERT_EQ(b.inProjBias.size(0), cp.inProjDim(l));
      ASSERT_EQ(b.convWeight.size(0), cp.convDim(l));
      ASSERT_EQ(b.convBias.size(0), cp.convDim(l));
      EXPECT_TRUE(torch::equal(b.inProj.narrow(0, 0, 2 * Di), a.inProj.narrow(0, 0, 2 * Di)));  // z, x
      EXPECT_TRUE(torch::equal(b.convWeight.narrow(0, 0, Di), a.convWeight.narrow(0, 0, Di)));  // x
      for (int64_t blk = 0; blk < 2 * G; ++blk) {  // B of each group, then C of each group
        const auto check = [&](const torch::Tensor& pt, const torch::Tensor& ot, int64_t first, const char* what) {
          EXPECT_TRUE(torch::equal(pt.narrow(0, first + blk * np, n), ot.narrow(0, first + blk * n, n)))
              << what << " layer " << l << " block " << blk;
          EXPECT_EQ(pt.narrow(0, first + blk * np + n, np - n).abs().max().item<double>(), 0.0)
              << what << " layer " << l << " block " << blk;
        };
        check(b.inProj, a.inProj, 2 * Di, "in_proj");
        check(b.inProjBias, a.inProjBias, 2 * Di, "in_proj bias");
        check(b.convWeight, a.convWeight, Di, "conv weight");
        check(b.convBias, a.convBias, Di, "conv bias");
      }
      EXPECT_TRUE(torch::equal(b.inProj.narrow(0, b.inProj.size(0) - c.nHeads, c.nHeads),
                               a.inProj.narrow(0, a.inProj.size(0) - c.nHeads, c.nHeads)));  // dt
      EXPECT_EQ(a.inProj.size(0), c.inProjDim(l));  // the source weights are untouched
    }
  }
}

TEST(StatePaddingTest, PaddedModelComputesTheSameFunction) {
  for (int64_t G : {1, 2}) {
    auto [c, w] = oddModel(G);
    ModelConfig cp = c;
    ModelWeights wp = w;
    ASSERT_TRUE(padStateChannels(cp, wp, {16, 8}).isOk());
    const Mamba2Model plain(c, w), padded(cp, wp);
    StatePool pa(plain.config(), 2, torch::kCPU), pb(padded.config(), 2, torch::kCPU);
    std::vector<int32_t> s0, s1;
    for (int t = 0; t < 37; ++t) s0.push_back((t * 29 + 3) % 500);
    for (int t = 0; t < 20; ++t) s1.push_back((t * 17 + 5) % 500);
    const std::vector<PrefillSequence> seqs = {{s0, 0, false}, {s1, 1, false}};
    torch::Tensor la = plain.prefill(seqs, pa, LogitsMode::kAll), lb = padded.prefill(seqs, pb, LogitsMode::kAll);
    EXPECT_LE(maxRelErr(lb[0], la[0]), 1e-5) << "G " << G;
    EXPECT_LE(maxRelErr(lb[1].narrow(0, 0, 20), la[1].narrow(0, 0, 20)), 1e-5) << "G " << G;
    const std::vector<int32_t> slots = {0, 1};
    for (int step = 0; step < 4; ++step) {
      const std::vector<int32_t> tokens = {step * 7 + 1, step * 11 + 2};
      EXPECT_LE(maxRelErr(padded.decode(tokens, slots, pb), plain.decode(tokens, slots, pa)), 1e-5)
          << "G " << G << " step " << step;
    }
    for (int64_t l = 0; l < c.nLayer; ++l) {
      const int64_t n = c.stateSize(l), np = cp.stateSize(l), H = c.nHeads, P = c.headDim;
      // (S, H, P, G-major states) -> per group: the kept channels match, the padded ones are 0.
      torch::Tensor sa = pa.ssm(l), sb = pb.ssm(l).view({2, H, P, np});
      EXPECT_LE(maxRelErr(sb.narrow(3, 0, n), sa), 1e-5) << "layer " << l;
      EXPECT_EQ(sb.narrow(3, n, np - n).abs().max().item<double>(), 0.0) << "layer " << l;
      torch::Tensor ca = pa.conv(l), cb = pb.conv(l);
      for (int64_t blk = 0; blk < 2 * G; ++blk) {
        EXPECT_LE(maxRelErr(cb.narrow(1, c.dInner + blk * np, n), ca.narrow(1, c.dInner + blk * n, n)), 1e-5);
        EXPECT_EQ(cb.narrow(1, c.dInner + blk * np + n, np - n).abs().max().item<double>(), 0.0);
      }
    }
  }
}

TEST(StatePaddingTest, AlignedLayersAreLeftAlone) {
  ModelConfig c = presetConfig("tiny").value();  // N = 16
  ModelWeights w = randomWeights(c, 3);
  const void* before = w.layers[0].inProj.data_ptr();
  auto changed = padStatesForServing(c, w, torch::Device(torch::kCUDA, 0), torch::kBFloat16);
  ASSERT_TRUE(changed.isOk());
  EXPECT_EQ(*changed, 0);
  EXPECT_EQ(w.layers[0].inProj.data_ptr(), before);
  EXPECT_EQ(c.stateSizes, (std::vector<int64_t>{16, 16}));
}

TEST(StatePaddingTest, RejectsBadArguments) {
  auto [c, w] = oddModel(1);
  auto shrink = padStateChannels(c, w, {16, 6});
  ASSERT_FALSE(shrink.isOk());
  EXPECT_EQ(shrink.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shrink.status().message().find("layer 1"), std::string::npos) << shrink.status().message();
  auto count = padStateChannels(c, w, {16});
  ASSERT_FALSE(count.isOk());
  EXPECT_EQ(count.status().code(), StatusCode::kInvalidArgument);
  w.layers[1].convWeight = w.layers[1].convWeight.narrow(0, 0, 10);
  auto bad = padStateChannels(c, w, {16, 8});
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("layer 1 conv weight"), std::string::npos) << bad.status().message();
  EXPECT_EQ(c.stateSizes, (std::vector<int64_t>{13, 7}));  // nothing changed
  EXPECT_EQ(w.layers[0].inProj.size(0), c.inProjDim(0));
}

}  // namespace
}  // namespace mamba
