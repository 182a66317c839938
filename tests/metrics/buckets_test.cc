#include "server/metrics/buckets.h"

#include <gtest/gtest.h>

#include "server/metrics/histogram.h"

namespace mamba::metrics {
namespace {

TEST(Buckets, DefaultLatencySpansGpuAndCpu) {
  const auto b = defaultLatencyBuckets();
  ASSERT_EQ(b.size(), 20u);
  EXPECT_DOUBLE_EQ(b.front(), 50e-6);
  EXPECT_DOUBLE_EQ(b.back(), 60.0);
  for (size_t i = 1; i < b.size(); ++i) {
    EXPECT_GT(b[i], b[i - 1]);
    EXPECT_LE(b[i] / b[i - 1], 2.5 + 1e-9) << "gap after " << b[i - 1];
  }
  EXPECT_TRUE(Histogram::makeConfig(b).isOk());
}

TEST(Buckets, DefaultLatencyLabelsAreReadable) {
  auto config = Histogram::makeConfig(defaultLatencyBuckets());
  ASSERT_TRUE(config.isOk());
  const auto& le = (*config)->leLabels;
  EXPECT_EQ(le[0], "le=\"0.00005\"");
  EXPECT_EQ(le[4], "le=\"0.001\"");
  EXPECT_EQ(le[13], "le=\"1\"");
  EXPECT_EQ(le[19], "le=\"60\"");
  EXPECT_EQ(le[20], "le=\"+Inf\"");
}

TEST(Buckets, BatchSize) {
  EXPECT_EQ(batchSizeBuckets(),
            (std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}));
}

TEST(Buckets, Generators) {
  EXPECT_EQ(exponentialBuckets(1, 10, 3), (std::vector<double>{1, 10, 100}));
  EXPECT_TRUE(exponentialBuckets(0, 2, 3).empty());
  EXPECT_TRUE(exponentialBuckets(1, 1, 3).empty());
  EXPECT_EQ(linearBuckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
  EXPECT_TRUE(linearBuckets(0, 0, 3).empty());
}

}  // namespace
}  // namespace mamba::metrics
