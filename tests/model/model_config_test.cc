#include "server/model/model_config.h"

#include <cmath>

#include <gtest/gtest.h>

namespace mamba {
namespace {

const char* kHf130m = R"({"model_type": "mamba2", "hidden_size": 768, "num_hidden_layers": 24,
  "vocab_size": 50288, "head_dim": 64, "num_heads": 24, "n_groups": 1, "state_size": 128,
  "expand": 2, "conv_kernel": 4, "chunk_size": 256, "time_step_limit": [0.0, Infinity],
  "use_conv_bias": true, "use_bias": false, "tie_word_embeddings": true, "residual_in_fp32": true,
  "layer_norm_epsilon": 1e-05, "eos_token_id": 0})";

TEST(ModelConfig, ParsesHfWithBareInfinity) {
  auto c = ModelConfig::fromJson(kHf130m, "config.json");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->dInner, 1536);
  EXPECT_EQ(c->convDim(0), 1792);
  EXPECT_EQ(c->inProjDim(3), 3352);
  EXPECT_TRUE(std::isinf(c->dtMax));
  // The published 130m model: 128.99 M parameters (spec §1(c)).
  EXPECT_NEAR(static_cast<double>(c->parameterCount()) / 1e6, 128.99, 0.01);
}

TEST(ModelConfig, ParsesV5FloatObjectAndPerLayerStateSizes) {
  std::string j = kHf130m;
  j.replace(j.find("Infinity"), 8, R"({"__float__": "Infinity"})");
  j.insert(j.size() - 1, R"(, "num_hidden_layers": 3, "state_sizes": [128, 64, 1])");
  // Duplicate keys: nlohmann keeps the last, so num_hidden_layers is 3.
  auto c = ModelConfig::fromJson(j, "x");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->stateSizes, (std::vector<int64_t>{128, 64, 1}));
  EXPECT_FALSE(c->uniformStateSize());
  auto back = ModelConfig::fromJson(c->toHfJson(), "roundtrip");
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->stateSizes, c->stateSizes);
}

TEST(ModelConfig, ParsesMambaSsmWithPaddedVocab) {
  auto c = ModelConfig::fromJson(R"({"d_model": 768, "n_layer": 24, "vocab_size": 50277,
      "ssm_cfg": {"layer": "Mamba2"}, "rms_norm": true, "residual_in_fp32": true,
      "fused_add_norm": true, "pad_vocab_size_multiple": 16, "tie_embeddings": true})", "ssm.json");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->vocabSize, 50288);
  EXPECT_EQ(c->rawVocabSize, 50277);
  EXPECT_EQ(c->nHeads, 24);
  EXPECT_EQ(c->stateSize(0), 128);
  EXPECT_EQ(c->format, CheckpointFormat::kMambaSsm);
}

TEST(ModelConfig, ErrorsNameTheField) {
  struct Case { std::string json, needle; };
  std::vector<Case> cases = {
      {"not json", "not a JSON object"},
      {R"({"model_type": "llama"})", "model_type"},
      {R"({"model_type": "mamba2"})", "hidden_size"},
      {R"({"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {}})", "layer"},
      {R"({"d_model": 64, "n_layer": 2, "vocab_size": 10})", "ssm_cfg"},
      {R"({"d_model": 64, "n_layer": 2, "vocab_size": 10, "d_intermediate": 5, "ssm_cfg": {"layer": "Mamba2"}})", "d_intermediate"},
  };
  std::string bad = kHf130m;
  bad.replace(bad.find("\"num_heads\": 24"), 15, "\"num_heads\": 25");
  cases.push_back({bad, "num_heads*head_dim"});
  std::string badType = kHf130m;
  badType.replace(badType.find("\"state_size\": 128"), 17, "\"state_size\": \"x\"");
  cases.push_back({badType, "state_size"});
  for (const auto& c : cases) {
    auto r = ModelConfig::fromJson(c.json, "cfg.json");
    ASSERT_FALSE(r.isOk()) << c.json;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("cfg.json"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace mamba
