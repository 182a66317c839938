#include "server/tokenizer/bpe_model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mamba {
namespace {

nlohmann::json model(nlohmann::json merges) {
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}}},
          {"merges", std::move(merges)}};
}

std::vector<int32_t> tokenize(const BpeModel& m, std::string_view word) {
  std::vector<int32_t> out;
  m.tokenize(word, out);
  return out;
}

TEST(TokenizerBpeModel, LowestRankFirst) {
  auto m = BpeModel::fromJson(model(nlohmann::json::array({"b c", "a b", "a bc"})), "model");
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(tokenize(*m, "abc"), (std::vector<int32_t>{5}));  // b+c, then a+bc
  auto m2 = BpeModel::fromJson(model(nlohmann::json::array({nlohmann::json::array({"a", "b"}), nlohmann::json::array({"b", "c"})})), "model");  // pair format
  ASSERT_TRUE(m2.isOk()) << m2.status().toString();
  EXPECT_EQ(tokenize(*m2, "abc"), (std::vector<int32_t>{3, 2}));
}

TEST(TokenizerBpeModel, LeftmostOnTiesAndUnknownCharactersDropped) {
  auto m = BpeModel::fromJson(model(nlohmann::json::array({"a a"})), "model");
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(tokenize(*m, "aaa"), (std::vector<int32_t>{6, 0}));
  // Without unk_token an unknown character is dropped, and its neighbours then merge (HF).
  EXPECT_EQ(tokenize(*m, "axa"), (std::vector<int32_t>{6}));
  EXPECT_EQ(tokenize(*m, ""), std::vector<int32_t>{});
}

TEST(TokenizerBpeModel, IgnoreMergesAndUnk) {
  nlohmann::json spec = model(nlohmann::json::array({"a b"}));
  spec["ignore_merges"] = true;
  spec["vocab"]["<unk>"] = 7;
  spec["vocab"]["ca"] = 8;  // reachable only as a whole word
  spec["unk_token"] = "<unk>";
  auto m = BpeModel::fromJson(spec, "model");
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(tokenize(*m, "ca"), (std::vector<int32_t>{8}));
  EXPECT_EQ(tokenize(*m, "xyab"), (std::vector<int32_t>{7, 7, 3}));
  spec["fuse_unk"] = true;
  auto fused = BpeModel::fromJson(spec, "model");
  ASSERT_TRUE(fused.isOk());
  EXPECT_EQ(tokenize(*fused, "xyab"), (std::vector<int32_t>{7, 3}));
}

TEST(TokenizerBpeModel, ErrorsNameTheField) {
  auto expectError = [](nlohmann::json spec, const std::string& field) {
    auto m = BpeModel::fromJson(spec, "model");
    ASSERT_FALSE(m.isOk()) << field;
    EXPECT_NE(m.status().message().find(field), std::string::npos) << m.status().message();
  };
  expectError(model(nlohmann::json::array({"a x"})), "model.merges[0]");
  expectError(model(nlohmann::json::array({"ab"})), "model.merges[0]");
  expectError(model(nlohmann::json::array({42})), "model.merges[0]");
  nlohmann::json dropout = model(nlohmann::json::array());
  dropout["dropout"] = 0.1;
  expectError(dropout, "model.dropout");
  nlohmann::json vocab = model(nlohmann::json::array());
  vocab["vocab"]["z"] = -1;
  expectError(vocab, "model.vocab.z");
  nlohmann::json unk = model(nlohmann::json::array());
  unk["unk_token"] = "<nope>";
  expectError(unk, "model.unk_token");
  nlohmann::json fallback = model(nlohmann::json::array());
  fallback["byte_fallback"] = true;
  expectError(fallback, "model.byte_fallback");
  dropout["dropout"] = 0.0;  // same as null
  EXPECT_TRUE(BpeModel::fromJson(dropout, "model").isOk());
}

}  // namespace
}  // namespace mamba
