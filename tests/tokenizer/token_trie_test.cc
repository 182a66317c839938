#include "server/tokenizer/token_trie.h"

#include <gtest/gtest.h>

namespace mamba {
namespace {

std::vector<TokenTrie::Match> find(const TokenTrie& t, std::string_view text) {
  std::vector<TokenTrie::Match> out;
  t.findAll(text, out);
  return out;
}

TEST(TokenizerTokenTrie, LeftmostThenLongest) {
  TokenTrie t;
  t.insert("ab", 1);
  t.insert("abc", 2);
  t.insert("bcd", 3);
  t.insert("d", 4);
  const auto m = find(t, "xabcd");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].start, 1u);
  EXPECT_EQ(m[0].end, 4u);
  EXPECT_EQ(m[0].value, 2);
  EXPECT_EQ(m[1].start, 4u);
  EXPECT_EQ(m[1].value, 4);
}

TEST(TokenizerTokenTrie, NonOverlappingRunsAndDuplicates) {
  TokenTrie t;
  t.insert("  ", 7);
  t.insert("  ", 8);  // the first value wins
  t.insert("", 9);    // ignored
  const auto m = find(t, "     ");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].value, 7);
  EXPECT_EQ(m[1].start, 2u);
  EXPECT_TRUE(find(t, "").empty());
  EXPECT_TRUE(find(TokenTrie(), "abc").empty());
}

}  // namespace
}  // namespace mamba
