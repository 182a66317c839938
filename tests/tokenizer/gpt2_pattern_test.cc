// Expected splits were produced by HF's ByteLevel pre-tokenizer (use_regex=True,
// add_prefix_space=False) and mapped back to raw bytes.
#include "server/tokenizer/gpt2_pattern.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mamba {
namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string_view> views;
  splitGpt2Pattern(text, views);
  return {views.begin(), views.end()};
}

using V = std::vector<std::string>;

TEST(TokenizerGpt2Pattern, WordsAndSpaces) {
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(" a"), (V{" a"}));
  EXPECT_EQ(split("3.14 abc123"), (V{"3", ".", "14", " abc", "123"}));
  EXPECT_EQ(split(" !!"), (V{" !!"}));
  EXPECT_EQ(split(""), V{});
}

TEST(TokenizerGpt2Pattern, WhitespaceRunGivesBackItsLastCharacter) {
  EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split("x\n\ny"), (V{"x", "\n", "\n", "y"}));
  EXPECT_EQ(split("  \n  x"), (V{"  \n ", " x"}));
  EXPECT_EQ(split("a \tb"), (V{"a", " ", "\t", "b"}));
  EXPECT_EQ(split("a\t b"), (V{"a", "\t", " b"}));
}

TEST(TokenizerGpt2Pattern, TrailingWhitespaceStaysTogether) {
  EXPECT_EQ(split("  "), (V{"  "}));
  EXPECT_EQ(split("a  "), (V{"a", "  "}));
}

TEST(TokenizerGpt2Pattern, UnicodeWhitespace) {
  EXPECT_EQ(split("x  \u00a0y"), (V{"x", "  ", "\u00a0", "y"}));
  EXPECT_EQ(split("a\u2028\u2028b"), (V{"a", "\u2028", "\u2028", "b"}));
  EXPECT_EQ(split("x\u3000 y"), (V{"x", "\u3000", " y"}));
}

TEST(TokenizerGpt2Pattern, Contractions) {
  EXPECT_EQ(split("I'm can't"), (V{"I", "'m", " can", "'t"}));
  EXPECT_EQ(split("you're"), (V{"you", "'re"}));
  EXPECT_EQ(split("'S 'll"), (V{"'", "S", " '", "ll"}));
  EXPECT_EQ(split("''s"), (V{"''", "s"}));
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));
}

TEST(TokenizerGpt2Pattern, CombiningMarkIsNotALetter) {
  EXPECT_EQ(split("a\u0301b"), (V{"a", "\u0301", "b"}));
}

}  // namespace
}  // namespace mamba
