// Model math against HF transformers' Mamba2 (the oracle cases), plus the invariances the
// engine relies on: ragged batching, chunked prefill and prefill + decode.
#include "server/model/mamba2_model.h"

#include <gtest/gtest.h>

#include "server/model/checkpoint.h"
#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

using testing::hfCaseDir;
using testing::loadOracle;
using testing::maxRelErr;

constexpr double kTol = 1e-4;  // fp32 relative error, issue 2

class OracleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto ckpt = loadCheckpoint(hfCaseDir(caseName()), {torch::kFloat32, torch::kCPU});
    ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
    model_ = std::make_unique<Mamba2Model>(ckpt->config, ckpt->weights);
    oracle_ = loadOracle(GetParam());
  }
  // The mamba_ssm-format twin of a case shares its expected logits.
  std::string caseName() const { return GetParam(); }
  std::unique_ptr<Mamba2Model> model_;
  testing::OracleCase oracle_;
};

TEST_P(OracleTest, PrefillAllPositionsMatchesTransformers) {
  StatePool pool(model_->config(), 1, torch::kCPU);
  for (size_t i = 0; i < oracle_.sequences.size(); ++i) {
    torch::Tensor logits = model_->prefill({{oracle_.sequences[i], 0, false}}, pool, LogitsMode::kAll)[0];
    EXPECT_LE(maxRelErr(logits, oracle_.logits[i]), kTol) << "sequence " << i << " (L=" << oracle_.sequences[i].size() << ")";
  }
}

TEST_P(OracleTest, RaggedBatchEqualsEachPromptAlone) {
  const int64_t n = static_cast<int64_t>(oracle_.sequences.size());
  StatePool pool(model_->config(), n, torch::kCPU);
  std::vector<PrefillSequence> seqs;
  for (int64_t i = 0; i < n; ++i) seqs.push_back({oracle_.sequences[i], static_cast<int32_t>(i), false});
  torch::Tensor last = model_->prefill(seqs, pool, LogitsMode::kLast);
  ASSERT_EQ(last.size(0), n);
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor want = oracle_.logits[i][static_cast<int64_t>(oracle_.sequences[i].size()) - 1];
    EXPECT_LE(maxRelErr(last[i], want), kTol) << "sequence " << i;
  }
}

TEST_P(OracleTest, PrefillThenDecodeStepsMatchFullPrefill) {
  // Prefill the first L-k tokens, then decode k steps: logits must match a prefill of L.
  const int64_t n = static_cast<int64_t>(oracle_.sequences.size());
  StatePool pool(model_->config(), n + 2, torch::kCPU);
  std::vector<PrefillSequence> seqs;
  std::vector<int64_t> split;
  for (int64_t i = 0; i < n; ++i) {
    const auto& s = oracle_.sequences[i];
    split.push_back(std::max<int64_t>(1, static_cast<int64_t>(s.size()) / 2));
    // Slots in reverse order with a gap, to exercise slot indexing.
    seqs.push_back({std::span<const int32_t>(s).first(static_cast<size_t>(split.back())), static_cast<int32_t>(n + 1 - i), false});
  }
  torch::Tensor last = model_->prefill(seqs, pool, LogitsMode::kLast);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_LE(maxRelErr(last[i], oracle_.logits[i][split[i] - 1]), kTol);
  }
  // Batched decode over the sequences that still have tokens left.
  for (int64_t step = 0;; ++step) {
    std::vector<int32_t> tokens, slots;
    std::vector<int64_t> who;
    for (int64_t i = 0; i < n; ++i) {
      int64_t pos = split[i] + step;
      if (pos < static_cast<int64_t>(oracle_.sequences[i].size())) {
        tokens.push_back(oracle_.sequences[i][static_cast<size_t>(pos)]);
        slots.push_back(static_cast<int32_t>(n + 1 - i));
        who.push_back(i);
      }
    }
    if (tokens.empty()) break;
    torch::Tensor logits = model_->decode(tokens, slots, pool);
    for (size_t k = 0; k < who.size(); ++k) {
      const int64_t i = who[k];
      EXPECT_LE(maxRelErr(logits[static_cast<int64_t>(k)], oracle_.logits[i][split[i] + step]), kTol)
          << "sequence " << i << " decode step " << step;
    }
  }
}

TEST_P(OracleTest, ChunkedPrefillContinuesFromState) {
  StatePool pool(model_->config(), 1, torch::kCPU);
  const auto& s = oracle_.sequences.back();
  const int64_t L = static_cast<int64_t>(s.size());
  for (int64_t chunk : {1, 2, 5}) {
    if (chunk >= L) continue;
    torch::Tensor last;
    for (int64_t off = 0; off < L; off += chunk) {
      int64_t len = std::min(chunk, L - off);
      last = model_->prefill({{std::span<const int32_t>(s).subspan(static_cast<size_t>(off), static_cast<size_t>(len)), 0, off > 0}},
                             pool, LogitsMode::kLast);
    }
    EXPECT_LE(maxRelErr(last[0], oracle_.logits.back()[L - 1]), kTol) << "chunk " << chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(HfCases, OracleTest,
                         ::testing::Values("g1_n20_p16", "g2_n48_p32", "g4_n16_p16_q64", "g1_n7_p16_bias"));

TEST(MambaSsmFormat, PytorchBinLoadsAndMatchesTransformers) {
  auto ckpt = loadCheckpoint(hfCaseDir("g1_n20_p16_mamba_ssm"), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  EXPECT_EQ(ckpt->config.format, CheckpointFormat::kMambaSsm);
  EXPECT_EQ(ckpt->config.rawVocabSize + 1, ckpt->config.vocabSize);  // padded vocabulary
  Mamba2Model model(ckpt->config, ckpt->weights);
  auto oracle = loadOracle("g1_n20_p16");
  StatePool pool(model.config(), 1, torch::kCPU);
  torch::Tensor logits = model.prefill({{oracle.sequences.back(), 0, false}}, pool, LogitsMode::kAll)[0];
  EXPECT_LE(maxRelErr(logits, oracle.logits.back()), kTol);
}

TEST(ReducedPrecision, Bf16AndFp16StayCloseToFp32) {
  auto oracle = loadOracle("g2_n48_p32");
  for (auto [dtype, tol] : {std::pair{torch::kBFloat16, 5e-2}, std::pair{torch::kFloat16, 1e-2}}) {
    auto ckpt = loadCheckpoint(hfCaseDir("g2_n48_p32"), {dtype, torch::kCPU});
    ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
    Mamba2Model model(ckpt->config, ckpt->weights);
    StatePool pool(model.config(), 1, torch::kCPU);
    torch::Tensor logits = model.prefill({{oracle.sequences.back(), 0, false}}, pool, LogitsMode::kAll)[0];
    EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
    EXPECT_LE(maxRelErr(logits, oracle.logits.back()), tol) << c10::toString(dtype);
  }
}

// The bf16 SSM-state option: half the SSM state bytes, decode logits stay close to fp32 state.
TEST(ReducedPrecision, Bf16SsmStateHalvesStateBytesAndStaysClose) {
  auto oracle = loadOracle("g2_n48_p32");
  auto ckpt = loadCheckpoint(hfCaseDir("g2_n48_p32"), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  Mamba2Model model(ckpt->config, ckpt->weights);
  const ModelConfig& c = model.config();
  StatePool full(c, 2, torch::kCPU), half(c, 2, torch::kCPU, torch::kBFloat16);
  EXPECT_EQ(half.ssm(0).scalar_type(), torch::kBFloat16);
  EXPECT_EQ(half.conv(0).scalar_type(), torch::kFloat32);  // the conv window stays fp32
  EXPECT_EQ(full.bytesPerSequence() - half.bytesPerSequence(), c.stateBytesPerSequence(4, 4) - c.stateBytesPerSequence(2, 4));
  EXPECT_EQ(c.stateBytesPerSequence(4, 4) - c.stateBytesPerSequence(2, 4), c.stateBytesPerSequence(2, 0));
  const auto& seq = oracle.sequences.back();
  const size_t n = seq.size() / 2;
  std::vector<int32_t> slot = {1};
  torch::Tensor a = model.prefill({{std::span<const int32_t>(seq).subspan(0, n), 1, false}}, full, LogitsMode::kLast);
  torch::Tensor b = model.prefill({{std::span<const int32_t>(seq).subspan(0, n), 1, false}}, half, LogitsMode::kLast);
  EXPECT_LE(maxRelErr(b, a), 1e-6);  // prefill computes in fp32; only the stored state is rounded
  for (size_t i = n; i < seq.size(); ++i) {
    std::vector<int32_t> tok = {seq[i]};
    a = model.decode(tok, slot, full);
    b = model.decode(tok, slot, half);
    EXPECT_LE(maxRelErr(b, a), 2e-2) << "step " << i;
  }
  EXPECT_THROW(StatePool(c, 1, torch::kCPU, torch::kFloat16), StatusError);
}

}  // namespace
}  // namespace mamba
