#include "server/tokenizer/byte_level.h"

#include <set>

#include <gtest/gtest.h>

namespace mamba {
namespace {

TEST(TokenizerByteLevel, AlphabetIsABijection) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = byte_level::byteToChar(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(cp).second);
    EXPECT_EQ(byte_level::charToByte(cp), b);
  }
  EXPECT_EQ(byte_level::byteToChar('A'), U'A');
  EXPECT_EQ(byte_level::byteToChar(' '), U'\u0120');   // Ġ
  EXPECT_EQ(byte_level::byteToChar('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(byte_level::byteToChar(0xAD), U'\u0143');  // the last one
  EXPECT_FALSE(byte_level::charToByte(U' ').has_value());
  EXPECT_FALSE(byte_level::charToByte(U'\u0144').has_value());
}

TEST(TokenizerByteLevel, EncodeAndDecodeTokens) {
  std::string encoded;
  byte_level::appendEncoded(" h\xC3\xA9\n", encoded);
  EXPECT_EQ(encoded, "\xC4\xA0h\xC3\x83\xC2\xA9\xC4\x8A");  // "Ġh" "Ã©" "Ċ"
  EXPECT_EQ(byte_level::decodeToken(encoded), " h\xC3\xA9\n");
  // Characters outside the alphabet: the token's own UTF-8 (HF's fallback).
  EXPECT_EQ(byte_level::decodeToken("   "), "   ");
  EXPECT_EQ(byte_level::decodeToken("\xC4\xA0 x"), "\xC4\xA0 x");
  EXPECT_EQ(byte_level::decodeToken("<|endoftext|>"), "<|endoftext|>");
}

}  // namespace
}  // namespace mamba
