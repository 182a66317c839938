// Byte-exact comparison with HF `tokenizers` (tests/oracle/tokenizer_cases.py) on the shared
// GPT-NeoX tokenizer, the two shared corpora, generated text and bytes, and small tokenizers
// that exercise the other supported features.
#include <algorithm>
#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "server/tokenizer/tokenizer.h"
#include "server/common/utf8.h"
#include "tests/tokenizer/oracle_cases.h"

namespace mamba {
namespace {

using test::EncodeCase;
using test::OracleCases;

std::string hexOf(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::unique_ptr<Tokenizer> load(const OracleCases& cases) {
  auto tok = Tokenizer::fromFile(cases.tokenizerFile);
  EXPECT_TRUE(tok.isOk()) << tok.status().toString();
  return tok.isOk() ? std::move(tok).value() : nullptr;
}

// Encode == HF ids; the repair matches Python; decode == HF decode; and with
// `roundTrip`, for text that is already NFC, decode(encode(x)) == x.
void checkEncode(const Tokenizer& tok, const EncodeCase& c, bool roundTrip) {
  SCOPED_TRACE(c.name + " input_hex=" + hexOf(c.input));
  EXPECT_EQ(utf8::replaceInvalid(c.input), c.repaired);
  const std::vector<int32_t> ids = tok.encode(c.input);
  const std::string mismatch = test::firstIdMismatch(ids, c.ids);
  EXPECT_TRUE(mismatch.empty()) << mismatch;
  const std::string decoded = tok.decode(ids);
  EXPECT_EQ(utf8::replaceInvalid(decoded), c.decoded);
  if (roundTrip && c.nfcStable) {
    EXPECT_EQ(decoded, c.repaired) << "round trip";
  }
}

void checkEncodeCases(const Tokenizer& tok, const OracleCases& cases, std::string_view prefix,
                      size_t minCount, bool roundTrip) {
  size_t n = 0;
  for (const EncodeCase& c : cases.encode) {
    if (!c.name.starts_with(prefix)) continue;
    checkEncode(tok, c, roundTrip);
    ++n;
  }
  EXPECT_GE(n, minCount) << prefix;
}

void checkDecodeAndVocab(const Tokenizer& tok, const OracleCases& cases) {
  for (const test::DecodeCase& d : cases.decode) {
    EXPECT_EQ(utf8::replaceInvalid(tok.decode(d.ids, d.skipSpecial)), d.text)
        << "ids " << ::testing::PrintToString(d.ids) << " skip_special=" << d.skipSpecial;
  }
  EXPECT_EQ(tok.vocabSize(), cases.vocabSize);
  const std::set<int32_t> special(cases.specialIds.begin(), cases.specialIds.end());
  for (int32_t id = -2; id < tok.vocabSize() + 2; ++id) {
    EXPECT_EQ(tok.isSpecial(id), special.contains(id)) << "id " << id;
  }
  for (const auto& [token, id] : cases.tokenToId) {
    EXPECT_EQ(tok.tokenToId(token), id) << "token \"" << token << "\"";
  }
}

class TokenizerOracleNeox : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cases_ = test::loadOracleCases("gpt-neox-20b").value_or(OracleCases{});
    if (!cases_.tokenizerFile.empty()) tok_ = load(cases_).release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(tok_, nullptr); }

  // Encodes the named corpus, checks ids and round trip, and the time (Release only).
  void checkCorpus(const std::string& name) {
    auto it = std::find_if(cases_.encode.begin(), cases_.encode.end(),
                           [&](const EncodeCase& c) { return c.name == name; });
    ASSERT_NE(it, cases_.encode.end()) << name;
    ASSERT_GT(it->input.size(), 1000000u);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok_->encode(it->input);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("encode %s: %zu bytes -> %zu ids in %.3f s\n", name.c_str(), it->input.size(),
                ids.size(), seconds);
    RecordProperty("encode_seconds", std::to_string(seconds));
    const std::string mismatch = test::firstIdMismatch(ids, it->ids);
    EXPECT_TRUE(mismatch.empty()) << mismatch;
    EXPECT_EQ(tok_->decode(ids), it->input);
#ifdef NDEBUG
    EXPECT_LT(seconds, 2.0);
#endif
  }

  static OracleCases cases_;
  static Tokenizer* tok_;
};
OracleCases TokenizerOracleNeox::cases_;
Tokenizer* TokenizerOracleNeox::tok_ = nullptr;

TEST_F(TokenizerOracleNeox, TinyShakespeare) { checkCorpus("tinyshakespeare.txt"); }
TEST_F(TokenizerOracleNeox, Wikitext2Valid) { checkCorpus("wikitext2-valid.txt"); }
TEST_F(TokenizerOracleNeox, Handcrafted) {
  checkEncodeCases(*tok_, cases_, "handcrafted[", 50, /*roundTrip=*/true);
}
TEST_F(TokenizerOracleNeox, RandomUtf8) {
  checkEncodeCases(*tok_, cases_, "random_utf8[", 400, /*roundTrip=*/true);
}
TEST_F(TokenizerOracleNeox, RandomBytes) {
  checkEncodeCases(*tok_, cases_, "random_bytes[", 200, /*roundTrip=*/true);
}
TEST_F(TokenizerOracleNeox, DecodeAndVocab) { checkDecodeAndVocab(*tok_, cases_); }

TEST_F(TokenizerOracleNeox, SpaceRunsAreAddedTokens) {
  // HF splits the 23 space-run added tokens (normalized, non-special) out before
  // pre-tokenization, longest first: 25 spaces = the 24-space token + " x" as one pre-token.
  EXPECT_EQ(tok_->encode("  a"), (std::vector<int32_t>{50276, 66}));
  EXPECT_EQ(tok_->encode(std::string(24, ' ') + "x"), (std::vector<int32_t>{50254, 89}));
  EXPECT_FALSE(tok_->isSpecial(50276));
  EXPECT_TRUE(tok_->isSpecial(0));
}

// `roundTrip`: the vocab covers every byte, so decode(encode(x)) == x for NFC text.
void checkSmallTokenizer(const std::string& name, bool roundTrip) {
  std::optional<OracleCases> cases = test::loadOracleCases(name);
  ASSERT_TRUE(cases.has_value());
  std::unique_ptr<Tokenizer> tok = load(*cases);
  ASSERT_NE(tok, nullptr);
  checkEncodeCases(*tok, *cases, "handcrafted[", 50, roundTrip);
  checkEncodeCases(*tok, *cases, "random_utf8[", 150, roundTrip);
  checkEncodeCases(*tok, *cases, "random_bytes[", 60, roundTrip);
  checkDecodeAndVocab(*tok, *cases);
}

TEST(TokenizerOracle, MinimalByteLevel) { checkSmallTokenizer("minimal_byte_level", true); }
// add_prefix_space: decode(encode(x)) == " " + x, so no round trip.
TEST(TokenizerOracle, Features) { checkSmallTokenizer("features", false); }
TEST(TokenizerOracle, AddedQuirks) { checkSmallTokenizer("added_quirks", false); }
// Missing bytes become <unk>; no pre-tokenizer drops characters outside the alphabet.
TEST(TokenizerOracle, UnkFused) { checkSmallTokenizer("unk_fused", false); }
TEST(TokenizerOracle, UnkUnfused) { checkSmallTokenizer("unk_unfused", false); }
TEST(TokenizerOracle, NoPreTokenizer) { checkSmallTokenizer("no_pre_tokenizer", false); }

}  // namespace
}  // namespace mamba
