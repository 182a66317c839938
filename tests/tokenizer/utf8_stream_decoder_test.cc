#include "server/tokenizer/utf8_stream_decoder.h"

#include <random>

#include <gtest/gtest.h>

#include "server/common/utf8.h"

namespace mamba {
namespace {

TEST(TokenizerUtf8StreamDecoder, EmojiSplitAcrossPushes) {
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("a\xF0"), "a");
  EXPECT_EQ(d.push(emoji.substr(1, 1)), "");
  EXPECT_EQ(d.push(emoji.substr(2, 1)), "");
  EXPECT_EQ(d.push(emoji.substr(3, 1) + "b"), emoji + "b");
  EXPECT_EQ(d.finish(), "");
}

TEST(TokenizerUtf8StreamDecoder, EverySplitOfAMixedString) {
  const std::string text = "x\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80y";
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      Utf8StreamDecoder d;
      std::string out = d.push(text.substr(0, i));
      out += d.push(text.substr(i, j - i));
      out += d.push(text.substr(j));
      out += d.finish();
      EXPECT_EQ(out, text) << i << "," << j;
    }
  }
}

TEST(TokenizerUtf8StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("a\xFF"), "a\xEF\xBF\xBD");
  EXPECT_EQ(d.push("\xE2\x82"), "");               // could still become U+20AC
  EXPECT_EQ(d.push("z"), "\xEF\xBF\xBDz");         // ...but did not: one U+FFFD
  EXPECT_EQ(d.push("\xF0\x9F"), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");           // truncated tail at the end
  EXPECT_EQ(d.finish(), "");
}

TEST(TokenizerUtf8StreamDecoder, MatchesReplaceInvalidOnRandomChunks) {
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::string bytes;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      static const unsigned char pool[] = {'a', 0x80, 0xBF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC,
                                           0xF0, 0x9F, 0x98, 0xED, 0xA0, 0xF4, 0x90, 0xFF};
      bytes.push_back(static_cast<char>(pool[rng() % sizeof(pool)]));
    }
    Utf8StreamDecoder d;
    std::string out;
    size_t pos = 0;
    while (pos < bytes.size()) {
      const size_t len = std::min<size_t>(rng() % 4, bytes.size() - pos);
      const std::string delta = d.push(bytes.substr(pos, len));
      EXPECT_TRUE(utf8::isValid(delta));
      out += delta;
      pos += len;
    }
    out += d.finish();
    EXPECT_EQ(out, utf8::replaceInvalid(bytes));
  }
}

}  // namespace
}  // namespace mamba
