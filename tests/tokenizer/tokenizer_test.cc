#include "server/tokenizer/tokenizer.h"

#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/common/utf8.h"
#include "tests/tokenizer/oracle_cases.h"

namespace mamba {
namespace {

// The GPT-2 byte alphabet, computed here independently of the library.
std::string gpt2CharUtf8(int byte) {
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int cp = byte;
  if (!printable(byte)) {
    cp = 256;
    for (int b = 0; b < byte; ++b) cp += printable(b) ? 0 : 1;
  }
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// A minimal byte-level tokenizer.json: <|endoftext|> = 0 (special), then the 256 byte tokens
// at ids 1..256, no merges. tests/oracle/tokenizer_cases.py writes the same file for HF.
std::string minimalByteLevelJson() {
  std::string vocab = R"("<|endoftext|>": 0)";
  for (int b = 0; b < 256; ++b) {
    std::string key = gpt2CharUtf8(b);
    if (key == "\"" || key == "\\") key = "\\" + key;
    vocab += ", \"" + key + "\": " + std::to_string(b + 1);
  }
  return R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false,
                      "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                      "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null,
              "continuing_subword_prefix": null, "end_of_word_suffix": null,
              "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {)" + vocab + R"(}, "merges": []}})";
}

std::unique_ptr<Tokenizer> loadMinimal() {
  auto tok = Tokenizer::fromJson(minimalByteLevelJson(), "minimal");
  EXPECT_TRUE(tok.isOk()) << tok.status().toString();
  return tok.isOk() ? std::move(tok).value() : nullptr;
}

// Loads `spec` and expects an error whose message names `origin` and every `needles`.
void expectLoadError(const nlohmann::json& spec, std::initializer_list<std::string> needles) {
  auto tok = Tokenizer::fromJson(spec.dump(), "test.json");
  ASSERT_FALSE(tok.isOk());
  const std::string& msg = tok.status().message();
  EXPECT_NE(msg.find("test.json"), std::string::npos) << msg;
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
}

TEST(TokenizerMinimal, InlineJsonMatchesHf) {
  const std::optional<test::OracleCases> cases = test::loadOracleCases("minimal_byte_level");
  ASSERT_TRUE(cases.has_value());
  // The oracle ran HF on the very same tokenizer.json.
  EXPECT_EQ(nlohmann::json::parse(minimalByteLevelJson()),
            nlohmann::json::parse(test::readFileOrEmpty(cases->tokenizerFile)));
  std::unique_ptr<Tokenizer> tok = loadMinimal();
  ASSERT_NE(tok, nullptr);
  for (const test::EncodeCase& c : cases->encode) {
    EXPECT_EQ(tok->encode(c.input), c.ids) << c.name;
  }
  EXPECT_GE(cases->encode.size(), 200u);
}

TEST(TokenizerMinimal, Api) {
  std::unique_ptr<Tokenizer> tok = loadMinimal();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocabSize(), 257);
  EXPECT_EQ(tok->encode("<|endoftext|>hi"), (std::vector<int32_t>{0, 'h' + 1, 'i' + 1}));
  EXPECT_EQ(tok->encode(" "), (std::vector<int32_t>{' ' + 1}));
  EXPECT_EQ(tok->encode(""), std::vector<int32_t>{});
  EXPECT_EQ(tok->tokenBytes(0), "<|endoftext|>");
  EXPECT_EQ(tok->tokenBytes(1), std::string(1, '\0'));
  EXPECT_EQ(tok->tokenBytes(256), "\xFF");
  EXPECT_EQ(tok->tokenBytes(257), "");
  EXPECT_EQ(tok->tokenBytes(-1), "");
  EXPECT_EQ(tok->tokenToId("\xC4\xA0"), ' ' + 1);  // "Ġ"
  EXPECT_EQ(tok->tokenToId("<|endoftext|>"), 0);
  EXPECT_EQ(tok->tokenToId("nope"), std::nullopt);
  EXPECT_TRUE(tok->isSpecial(0));
  EXPECT_FALSE(tok->isSpecial(1));
  const std::vector<int32_t> ids = {'a' + 1, 0, -5, 999, 0xC3 + 1};
  EXPECT_EQ(tok->decode(ids), "a<|endoftext|>\xC3");  // may end mid-character
  EXPECT_EQ(tok->decode(ids, /*skipSpecial=*/true), "a\xC3");
}

TEST(TokenizerMinimal, ArbitraryBytesNeverCrashAndRoundTripAfterRepair) {
  std::unique_ptr<Tokenizer> tok = loadMinimal();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::vector<int32_t> ids = tok->encode(bytes);
    EXPECT_EQ(tok->decode(ids), utf8::replaceInvalid(bytes));
  }
}

TEST(TokenizerMinimal, ConcurrentEncodeIsConsistent) {
  std::unique_ptr<Tokenizer> tok = loadMinimal();
  ASSERT_NE(tok, nullptr);
  const std::string text = "Hello  world\n\tit's <|endoftext|> caf\xC3\xA9 \xF0\x9F\x98\x80 42";
  const std::vector<int32_t> expected = tok->encode(text);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) failures[t] += tok->encode(text) != expected;
    });
  }
  for (std::thread& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(TokenizerLoad, MissingFile) {
  auto tok = Tokenizer::fromFile("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(tok.isOk());
  EXPECT_EQ(tok.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tok.status().message().find("/nonexistent/dir/tokenizer.json"), std::string::npos);
  EXPECT_FALSE(Tokenizer::fromFile("/").isOk());  // a directory
  EXPECT_FALSE(Tokenizer::fromFile("").isOk());
}

TEST(TokenizerLoad, MalformedJson) {
  auto tok = Tokenizer::fromJson(R"({"model": {"type": "BPE", )", "broken.json");
  ASSERT_FALSE(tok.isOk());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("broken.json"), std::string::npos);
  EXPECT_NE(tok.status().message().find("malformed JSON"), std::string::npos);
  EXPECT_FALSE(Tokenizer::fromJson("\"\xFF\"", "bad-utf8.json").isOk());
  EXPECT_FALSE(Tokenizer::fromJson("[]", "array.json").isOk());
  // Every truncation of a valid file is rejected cleanly.
  const std::string good = minimalByteLevelJson();
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_FALSE(Tokenizer::fromJson(good.substr(0, n), "cut.json").isOk()) << n;
  }
}

TEST(TokenizerLoad, UnsupportedComponentsNameTheField) {
  const nlohmann::json base = nlohmann::json::parse(minimalByteLevelJson());
  nlohmann::json j = base;
  j["model"]["type"] = "WordPiece";
  expectLoadError(j, {"model.type", "WordPiece"});
  j = base;
  j.erase("model");
  expectLoadError(j, {"\"model\"", "missing"});
  j = base;
  j["normalizer"] = {{"type", "Lowercase"}};
  expectLoadError(j, {"normalizer.type", "Lowercase"});
  j = base;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expectLoadError(j, {"pre_tokenizer.type", "Whitespace"});
  j = base;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", nlohmann::json::array({{{"type", "Digits"}}})}};
  expectLoadError(j, {"pre_tokenizer.pretokenizers[0].type", "Digits"});
  j = base;
  j["decoder"] = {{"type", "WordPiece"}};
  expectLoadError(j, {"decoder.type", "WordPiece"});
  j = base;
  j["model"]["dropout"] = 0.25;
  expectLoadError(j, {"model.dropout", "not supported"});
  j = base;
  j["model"]["vocab"] = nlohmann::json::array();
  expectLoadError(j, {"model.vocab"});
  j = base;
  j["model"]["merges"] = nlohmann::json::array({"a \xC4\xA0zz"});
  expectLoadError(j, {"model.merges[0]", "not in the vocab"});
  j = base;
  j["added_tokens"][0].erase("content");
  expectLoadError(j, {"added_tokens[0].content", "missing"});
  j = base;
  j["pre_tokenizer"]["add_prefix_space"] = "yes";
  expectLoadError(j, {"pre_tokenizer.add_prefix_space", "boolean"});
}

TEST(TokenizerLoad, AddedTokenIdsFollowHf) {
  // HF ignores the "id" field: a content missing from the vocab takes the next free id
  // (the vocab's entry count), even when that id already belongs to a vocab token.
  nlohmann::json j = nlohmann::json::parse(minimalByteLevelJson());
  j["model"]["vocab"].erase("<|endoftext|>");
  auto tok = Tokenizer::fromJson(j.dump(), "shifted.json");
  ASSERT_TRUE(tok.isOk()) << tok.status().toString();
  EXPECT_EQ((*tok)->tokenToId("<|endoftext|>"), 256);
  EXPECT_EQ((*tok)->encode("<|endoftext|>"), (std::vector<int32_t>{256}));
  EXPECT_EQ((*tok)->tokenBytes(256), "<|endoftext|>");  // the added token wins on decode
  EXPECT_EQ((*tok)->vocabSize(), 257);
}

}  // namespace
}  // namespace mamba
