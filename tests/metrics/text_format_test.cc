#include "server/metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

namespace mamba::metrics {
namespace {

TEST(TextFormat, MetricNames) {
  EXPECT_TRUE(isValidMetricName("mamba_request_ttft_seconds"));
  EXPECT_TRUE(isValidMetricName("job:rate5m"));
  EXPECT_TRUE(isValidMetricName("_x9"));
  EXPECT_FALSE(isValidMetricName(""));
  EXPECT_FALSE(isValidMetricName("9lives"));
  EXPECT_FALSE(isValidMetricName("has-dash"));
  EXPECT_FALSE(isValidMetricName("has space"));
  EXPECT_FALSE(isValidMetricName("caf\xc3\xa9"));
}

TEST(TextFormat, LabelNames) {
  EXPECT_TRUE(isValidLabelName("model"));
  EXPECT_TRUE(isValidLabelName("_private"));
  EXPECT_TRUE(isValidLabelName("v2"));
  EXPECT_FALSE(isValidLabelName(""));
  EXPECT_FALSE(isValidLabelName("__reserved"));
  EXPECT_FALSE(isValidLabelName("2v"));
  EXPECT_FALSE(isValidLabelName("a:b"));
  EXPECT_FALSE(isValidLabelName("a-b"));
}

TEST(TextFormat, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d"));
  EXPECT_FALSE(isValidUtf8("\xc3"));              // Truncated.
  EXPECT_FALSE(isValidUtf8("\xc0\xaf"));          // Overlong.
  EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));      // Surrogate.
  EXPECT_FALSE(isValidUtf8("\xff"));
}

TEST(TextFormat, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escapeLabelValue(R"(a\b"c)" "\nd"), R"(a\\b\"c\nd)");
  EXPECT_EQ(escapeLabelValue("plain caf\xc3\xa9"), "plain caf\xc3\xa9");
  EXPECT_EQ(escapeHelp(R"(say "hi" \ )" "\nbye"), R"(say "hi" \\ \nbye)");
}

TEST(TextFormat, FormatsDoubles) {
  EXPECT_EQ(formatDouble(0.0), "0");
  EXPECT_EQ(formatDouble(-0.0), "0");
  EXPECT_EQ(formatDouble(1.0), "1");
  EXPECT_EQ(formatDouble(-1.5), "-1.5");
  EXPECT_EQ(formatDouble(0.1), "0.1");
  EXPECT_EQ(formatDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(formatDouble(50e-6), "0.00005");
  EXPECT_EQ(formatDouble(1e-6), "1e-06");
  EXPECT_EQ(formatDouble(1234567.0), "1234567");
  EXPECT_EQ(formatDouble(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(formatDouble(123456789012345.0), "123456789012345");
  EXPECT_EQ(formatDouble(1e16), "1e+16");
  EXPECT_EQ(formatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatDouble(std::nan("")), "NaN");
}

TEST(TextFormat, DoublesRoundTrip) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> mantissa(-10.0, 10.0);
  std::uniform_int_distribution<int> exponent(-30, 30);
  for (int i = 0; i < 10000; ++i) {
    const double v = std::ldexp(mantissa(rng), exponent(rng));
    const std::string s = formatDouble(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
  EXPECT_EQ(std::strtod(formatDouble(std::numeric_limits<double>::max()).c_str(), nullptr),
            std::numeric_limits<double>::max());
  EXPECT_EQ(std::strtod(formatDouble(std::numeric_limits<double>::denorm_min()).c_str(), nullptr),
            std::numeric_limits<double>::denorm_min());
}

TEST(TextFormat, SampleLine) {
  std::string out;
  appendSampleLine(out, "m", "", "", "", "1");
  appendSampleLine(out, "m", "_bucket", "", "le=\"0.5\"", "2");
  appendSampleLine(out, "m", "_bucket", "a=\"x\"", "le=\"+Inf\"", "3");
  appendSampleLine(out, "m", "_sum", "a=\"x\"", "", "4");
  EXPECT_EQ(out,
            "m 1\n"
            "m_bucket{le=\"0.5\"} 2\n"
            "m_bucket{a=\"x\",le=\"+Inf\"} 3\n"
            "m_sum{a=\"x\"} 4\n");
}

}  // namespace
}  // namespace mamba::metrics
