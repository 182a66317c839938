#include "server/tokenizer/normalizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mamba {
namespace {

Normalizer parse(const char* json) {
  const nlohmann::json j = nlohmann::json::parse(json);
  auto n = Normalizer::fromJson(&j, "normalizer");
  EXPECT_TRUE(n.isOk()) << n.status().toString();
  return n.isOk() ? std::move(n).value() : Normalizer();
}

TEST(TokenizerNormalizer, NfcComposesAndReorders) {
  const Normalizer n = parse(R"({"type": "NFC"})");
  EXPECT_FALSE(n.isIdentity());
  EXPECT_EQ(n.normalize("e\u0301"), "\u00e9");
  EXPECT_EQ(n.normalize("\u212b"), "\u00c5");                           // singleton
  EXPECT_EQ(n.normalize("a\u0302\u0323"), "\u1ead");                    // reordered, composed
  EXPECT_EQ(n.normalize("\u1100\u1161\u11a8"), "\uac01");               // Hangul jamo
  EXPECT_EQ(n.normalize("\u0958"), "\u0915\u093c");                     // composition exclusion
  EXPECT_EQ(n.normalize("plain ascii"), "plain ascii");
  EXPECT_EQ(n.normalize(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(TokenizerNormalizer, NullAndSequence) {
  auto identity = Normalizer::fromJson(nullptr, "normalizer");
  ASSERT_TRUE(identity.isOk());
  EXPECT_TRUE(identity->isIdentity());
  EXPECT_EQ(identity->normalize("e\u0301"), "e\u0301");
  const Normalizer seq = parse(R"({"type": "Sequence", "normalizers": [{"type": "NFC"}]})");
  EXPECT_EQ(seq.normalize("e\u0301"), "\u00e9");
}

TEST(TokenizerNormalizer, UnsupportedTypesAreNamed) {
  const nlohmann::json j = nlohmann::json::parse(
      R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})");
  auto n = Normalizer::fromJson(&j, "normalizer");
  ASSERT_FALSE(n.isOk());
  EXPECT_NE(n.status().message().find("normalizer.normalizers[1].type"), std::string::npos)
      << n.status().message();
  EXPECT_NE(n.status().message().find("Lowercase"), std::string::npos);
  const nlohmann::json noType = nlohmann::json::parse(R"({"kind": "NFC"})");
  EXPECT_FALSE(Normalizer::fromJson(&noType, "normalizer").isOk());
}

}  // namespace
}  // namespace mamba
