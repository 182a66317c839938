#include "server/metrics/counter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace mamba::metrics {
namespace {

TEST(Counter, StartsAtZeroAndIncrements) {
  Counter c;
  EXPECT_EQ(c.value(), 0.0);
  c.inc();
  c.inc(2.5);
  c.inc(0.0);
  EXPECT_EQ(c.value(), 3.5);
}

TEST(Counter, IgnoresNegativeAndNaN) {
  Counter c;
  c.inc(4);
  c.inc(-1);
  c.inc(std::nan(""));
  EXPECT_EQ(c.value(), 4.0);
}

TEST(Counter, ConcurrentIncrementsSumExactly) {
  Counter c;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < kPerThread; ++i) c.inc(t % 2 == 0 ? 1.0 : 0.5);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.value(), 4 * kPerThread * 1.0 + 4 * kPerThread * 0.5);
}

TEST(Counter, Exposition) {
  Counter c;
  c.inc(7);
  std::string out;
  c.appendSamples(out, "x_total", "a=\"1\"");
  EXPECT_EQ(out, "x_total{a=\"1\"} 7\n");
}

}  // namespace
}  // namespace mamba::metrics
