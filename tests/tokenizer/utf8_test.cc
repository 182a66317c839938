#include "server/common/utf8.h"

#include <gtest/gtest.h>

namespace mamba {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string r(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kFffd;
  return out;
}

// Expected values are Python's bytes.decode("utf-8", errors="replace").
TEST(TokenizerUtf8, ReplacesMaximalSubparts) {
  EXPECT_EQ(utf8::replaceInvalid("abc"), "abc");
  EXPECT_EQ(utf8::replaceInvalid(""), "");
  EXPECT_EQ(utf8::replaceInvalid("\x80"), r(1));
  EXPECT_EQ(utf8::replaceInvalid("\xC0\xAF"), r(2));          // overlong lead C0
  EXPECT_EQ(utf8::replaceInvalid("\xE0\x80\xAF"), r(3));      // E0 needs A0..BF
  EXPECT_EQ(utf8::replaceInvalid("\xED\xA0\x80"), r(3));      // surrogate
  EXPECT_EQ(utf8::replaceInvalid("\xF4\x90\x80\x80"), r(4));  // > U+10FFFF
  EXPECT_EQ(utf8::replaceInvalid("\xF0\x9F\x98"), r(1));      // truncated 4-byte: one
  EXPECT_EQ(utf8::replaceInvalid("\xF0\x9F\x98" "a"), r(1) + "a");
  EXPECT_EQ(utf8::replaceInvalid("\xE2\x82" "a"), r(1) + "a");
  EXPECT_EQ(utf8::replaceInvalid("\xF8\x88\x80\x80\x80"), r(5));
  EXPECT_EQ(utf8::replaceInvalid("\xF0\x9F\x98\x80\x80"), "\xF0\x9F\x98\x80" + r(1));
  EXPECT_EQ(utf8::replaceInvalid("hello \xFF world"), "hello " + r(1) + " world");
  EXPECT_EQ(utf8::replaceInvalid(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(TokenizerUtf8, ScanReportsTruncationOnlyAtTheEnd) {
  const utf8::Scan t = utf8::scanAt("\xF0\x9F", 0);
  EXPECT_EQ(t.kind, utf8::Scan::kTruncated);
  EXPECT_EQ(t.length, 2);
  const utf8::Scan bad = utf8::scanAt("\xF0\x9F" "a", 0);
  EXPECT_EQ(bad.kind, utf8::Scan::kInvalid);
  EXPECT_EQ(bad.length, 2);
  const utf8::Scan ok = utf8::scanAt("\xF0\x9F\x98\x80", 0);
  EXPECT_EQ(ok.kind, utf8::Scan::kValid);
  EXPECT_EQ(ok.codePoint, U'\U0001F600');
}

TEST(TokenizerUtf8, EncodeDecodeEveryScalarValue) {
  std::string all;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    utf8::append(cp, all);
  }
  ASSERT_TRUE(utf8::isValid(all));
  EXPECT_EQ(utf8::replaceInvalid(all), all);
  size_t pos = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    ASSERT_EQ(utf8::decodeValid(all, pos), cp);
  }
  EXPECT_EQ(pos, all.size());
}

TEST(TokenizerUtf8, IsValid) {
  EXPECT_TRUE(utf8::isValid("h\xC3\xA9llo"));
  EXPECT_FALSE(utf8::isValid("h\xC3"));
  EXPECT_FALSE(utf8::isValid("\xED\xBF\xBF"));
  EXPECT_FALSE(utf8::isValid("\xC1\xBF"));
}

}  // namespace
}  // namespace mamba
