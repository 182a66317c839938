// mamba-cli's pure pieces: length distributions and latency summaries.
#include <gtest/gtest.h>

#include "client/cli_error.h"
#include "client/latency_stats.h"
#include "client/length_distribution.h"

namespace mamba::client {
namespace {

TEST(LengthDistribution, ParsesFixedAndUniform) {
  auto fixed = LengthDistribution::parse("128", "--output-tokens");
  EXPECT_EQ(fixed.min(), 128);
  EXPECT_EQ(fixed.max(), 128);
  EXPECT_EQ(fixed.describe(), "128");
  auto range = LengthDistribution::parse("8:16", "--prompt-tokens");
  EXPECT_EQ(range.describe(), "uniform[8, 16]");
  std::mt19937_64 rng(1);
  bool sawLo = false, sawHi = false;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = range.sample(rng);
    ASSERT_GE(v, 8);
    ASSERT_LE(v, 16);
    sawLo = sawLo || v == 8;
    sawHi = sawHi || v == 16;
  }
  EXPECT_TRUE(sawLo && sawHi);
}

TEST(LengthDistribution, RejectsBadInputNamingTheFlag) {
  for (const char* bad : {"", "0", "-3", "x", "16:8", "4:", ":4", "1:2:3", "5 "}) {
    try {
      (void)LengthDistribution::parse(bad, "--prompt-tokens");
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const CliError& e) {
      EXPECT_NE(std::string(e.what()).find("--prompt-tokens"), std::string::npos);
    }
  }
}

TEST(LatencyStats, PercentilesInterpolateLikeNumpy) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 50.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 90.1);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 99.01);
  EXPECT_DOUBLE_EQ(percentile({3.0}, 99), 3.0);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0.0);
  const LatencySummary s = summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
}

}  // namespace
}  // namespace mamba::client
