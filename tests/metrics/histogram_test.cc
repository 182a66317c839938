#include "server/metrics/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace mamba::metrics {
namespace {

Histogram::Config layout(std::vector<double> bounds) {
  auto config = Histogram::makeConfig(std::move(bounds));
  EXPECT_TRUE(config.isOk()) << config.status().toString();
  return config.value();
}

TEST(Histogram, ValueEqualToBoundGoesInThatBucket) {
  Histogram h(layout({1, 2, 5}));
  h.observe(1.0);  // le=1
  h.observe(2.0);  // le=2
  h.observe(2.0000001);  // le=5
  h.observe(5.0);  // le=5
  h.observe(0.0);  // le=1
  h.observe(-3);   // le=1 (below every bound)
  h.observe(5.5);  // +Inf only
  const auto snap = h.snapshot();
  EXPECT_EQ(snap.cumulativeCounts, (std::vector<uint64_t>{3, 4, 6, 7}));
  EXPECT_EQ(snap.count, 7u);
  EXPECT_DOUBLE_EQ(snap.sum, 1 + 2 + 2.0000001 + 5 + 0 - 3 + 5.5);
}

TEST(Histogram, IgnoresNaNAndCountsInfinityInInfBucket) {
  Histogram h(layout({1}));
  h.observe(std::nan(""));
  EXPECT_EQ(h.snapshot().count, 0u);
  h.observe(std::numeric_limits<double>::infinity());
  const auto snap = h.snapshot();
  EXPECT_EQ(snap.cumulativeCounts, (std::vector<uint64_t>{0, 1}));
}

TEST(Histogram, ConfigValidation) {
  EXPECT_TRUE(Histogram::makeConfig({}).isOk());
  EXPECT_TRUE(Histogram::makeConfig({-1, 0, 1}).isOk());
  auto withInf = Histogram::makeConfig({1, 2, std::numeric_limits<double>::infinity()});
  ASSERT_TRUE(withInf.isOk());
  EXPECT_EQ((*withInf)->bounds, (std::vector<double>{1, 2}));
  EXPECT_EQ((*withInf)->leLabels.back(), "le=\"+Inf\"");

  auto notIncreasing = Histogram::makeConfig({1, 1});
  ASSERT_FALSE(notIncreasing.isOk());
  EXPECT_EQ(notIncreasing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Histogram::makeConfig({2, 1}).isOk());
  EXPECT_FALSE(Histogram::makeConfig({1, std::nan("")}).isOk());
  EXPECT_FALSE(
      Histogram::makeConfig({std::numeric_limits<double>::infinity(), 1}).isOk());
  EXPECT_FALSE(Histogram::makeConfig({-std::numeric_limits<double>::infinity(), 1}).isOk());
}

TEST(Histogram, OnlyInfBucket) {
  Histogram h(layout({}));
  h.observe(3);
  std::string out;
  h.appendSamples(out, "h", "");
  EXPECT_EQ(out, "h_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
}

TEST(Histogram, Exposition) {
  Histogram h(layout({0.125, 0.5, 1}));
  h.observe(0.125);
  h.observe(0.25);
  h.observe(0.5);
  h.observe(2);
  std::string out;
  h.appendSamples(out, "lat_seconds", "model=\"m\"");
  EXPECT_EQ(out,
            "lat_seconds_bucket{model=\"m\",le=\"0.125\"} 1\n"
            "lat_seconds_bucket{model=\"m\",le=\"0.5\"} 3\n"
            "lat_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
            "lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{model=\"m\"} 2.875\n"
            "lat_seconds_count{model=\"m\"} 4\n");
}

TEST(Histogram, ConcurrentObservationsCountExactly) {
  Histogram h(layout({0.5, 1.5, 2.5}));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Thread t observes t % 4: buckets 0.5 (t=0), 1.5 (t=1), 2.5 (t=2), +Inf (t=3).
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kPerThread; ++i) h.observe(static_cast<double>(t % 4));
    });
  }
  for (auto& th : threads) th.join();
  const auto snap = h.snapshot();
  const uint64_t n = kPerThread;
  EXPECT_EQ(snap.cumulativeCounts, (std::vector<uint64_t>{2 * n, 4 * n, 6 * n, 8 * n}));
  EXPECT_EQ(snap.count, 8 * n);
  EXPECT_EQ(snap.sum, 2.0 * n * (0 + 1 + 2 + 3));  // Integers: exact in double.
}

}  // namespace
}  // namespace mamba::metrics
