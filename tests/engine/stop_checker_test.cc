#include "server/engine/sampling/stop_checker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mamba {
namespace {

struct Fed {
  std::string emitted;
  bool stopped = false;
  int stoppedAt = -1;  // index of the token that stopped
};

Fed feed(StopChecker& checker, const std::vector<std::string>& tokens) {
  Fed run;
  for (size_t i = 0; i < tokens.size(); ++i) {
    StopChecker::Step step = checker.push(tokens[i]);
    run.emitted += step.emit;
    if (step.stopped) {
      run.stopped = true;
      run.stoppedAt = static_cast<int>(i);
      return run;
    }
  }
  run.emitted += checker.flush();
  return run;
}

TEST(StopChecker, NoStopStringsEmitsEverythingAtOnce) {
  StopChecker checker({});
  StopChecker::Step step = checker.push("hello");
  EXPECT_EQ(step.emit, "hello");
  EXPECT_FALSE(step.stopped);
  EXPECT_EQ(checker.flush(), "");
}

TEST(StopChecker, StopInsideOneToken) {
  StopChecker checker({"STOP"});
  EXPECT_EQ(checker.push("abc").emit, "abc");
  StopChecker::Step step = checker.push("xxSTOPyy");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.emit, "xx");
  EXPECT_TRUE(checker.stopped());
  // Later pushes emit nothing.
  StopChecker::Step after = checker.push("more");
  EXPECT_TRUE(after.stopped);
  EXPECT_EQ(after.emit, "");
}

TEST(StopChecker, StopSpanningThreeTokens) {
  StopChecker checker({"<|end|>"});
  StopChecker::Step s1 = checker.push("Hi <|");
  EXPECT_EQ(s1.emit, "Hi ");
  EXPECT_FALSE(s1.stopped);
  EXPECT_EQ(checker.heldBytes(), 2u);
  StopChecker::Step s2 = checker.push("en");
  EXPECT_EQ(s2.emit, "");
  EXPECT_FALSE(s2.stopped);
  EXPECT_EQ(checker.heldBytes(), 4u);
  StopChecker::Step s3 = checker.push("d|>tail");
  EXPECT_TRUE(s3.stopped);
  EXPECT_EQ(s3.emit, "");
}

TEST(StopChecker, PrefixThatIsNotAStopIsReleased) {
  StopChecker checker({"###"});
  StopChecker::Step s1 = checker.push("a##");
  EXPECT_EQ(s1.emit, "a");
  EXPECT_EQ(checker.heldBytes(), 2u);
  StopChecker::Step s2 = checker.push("b");
  EXPECT_FALSE(s2.stopped);
  EXPECT_EQ(s2.emit, "##b");
  EXPECT_EQ(checker.heldBytes(), 0u);
}

TEST(StopChecker, PartialMatchRestartsInsideHeldBytes) {
  // "aab" must be found in "aaab" although the first candidate "aa" + "a" fails.
  StopChecker checker({"aab"});
  Fed run = feed(checker, {"a", "a", "a", "b", "c"});
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.stoppedAt, 3);
  EXPECT_EQ(run.emitted, "a");
}

TEST(StopChecker, OverlappingPrefixesOfSeveralStopStrings) {
  StopChecker checker({"abcd", "abx", "bce"});
  StopChecker::Step s1 = checker.push("zab");
  EXPECT_EQ(s1.emit, "z");  // "ab" may start "abcd" or "abx"
  StopChecker::Step s2 = checker.push("c");
  EXPECT_EQ(s2.emit, "");   // "abc" may start "abcd"; "bc" may start "bce"
  StopChecker::Step s3 = checker.push("e!");
  EXPECT_TRUE(s3.stopped);  // "bce" completes
  EXPECT_EQ(s3.emit, "a");
}

TEST(StopChecker, OverlappingPrefixesNoneCompletes) {
  StopChecker checker({"abcd", "abx", "bce"});
  Fed run = feed(checker, {"zab", "c", "q", "ab"});
  EXPECT_FALSE(run.stopped);
  EXPECT_EQ(run.emitted, "zabcqab");
}

TEST(StopChecker, EarliestEndingStopWinsIndependentOfTokenization) {
  const std::vector<std::string> stops = {"abcd", "bc"};
  for (const auto& tokens : std::vector<std::vector<std::string>>{
           {"xabcd"}, {"xab", "cd"}, {"x", "a", "b", "c", "d"}, {"xabc", "d"}}) {
    StopChecker checker(stops);
    Fed run = feed(checker, tokens);
    EXPECT_TRUE(run.stopped);
    EXPECT_EQ(run.emitted, "xa");
  }
}

TEST(StopChecker, LongestStopWinsWhenSeveralEndTogether) {
  StopChecker checker({"c", "abc"});
  StopChecker::Step step = checker.push("xabc");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.emit, "x");
}

TEST(StopChecker, FlushReleasesHeldBytes) {
  StopChecker checker({"END"});
  EXPECT_EQ(checker.push("the EN").emit, "the ");
  EXPECT_EQ(checker.flush(), "EN");
  EXPECT_EQ(checker.heldBytes(), 0u);
  EXPECT_EQ(checker.flush(), "");
}

TEST(StopChecker, EmittedTextNeverContainsAStopString) {
  // Byte-by-byte over a text with many near misses: concatenated output equals the prefix
  // before the first occurrence.
  const std::string text = "<<<|<|e<|en<|end<|en|><|end|>after";
  StopChecker checker({"<|end|>"});
  std::string out;
  bool stopped = false;
  for (char c : text) {
    StopChecker::Step step = checker.push(std::string_view(&c, 1));
    out += step.emit;
    if (step.stopped) {
      stopped = true;
      break;
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, text.substr(0, text.find("<|end|>")));
}

TEST(StopChecker, BinaryBytesAndEmptyStrings) {
  StopChecker checker({"", std::string("\0\xff", 2)});
  StopChecker::Step s1 = checker.push(std::string("a\0", 2));
  EXPECT_EQ(s1.emit, "a");
  StopChecker::Step s2 = checker.push("\xff");
  EXPECT_TRUE(s2.stopped);
  EXPECT_EQ(s2.emit, "");
}

}  // namespace
}  // namespace mamba
