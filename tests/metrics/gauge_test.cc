#include "server/metrics/gauge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace mamba::metrics {
namespace {

TEST(Gauge, SetIncDec) {
  Gauge g;
  EXPECT_EQ(g.value(), 0.0);
  g.set(10);
  g.inc();
  g.inc(2.5);
  g.dec();
  g.dec(20);
  EXPECT_EQ(g.value(), -7.5);
}

TEST(Gauge, SetToCurrentTime) {
  Gauge g;
  g.setToCurrentTime();
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(g.value(), now, 5.0);
}

TEST(Gauge, ConcurrentIncDecBalance) {
  Gauge g;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&g, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (t % 2 == 0) g.inc(); else g.dec(2);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(g.value(), 4.0 * kPerThread - 8.0 * kPerThread);
}

TEST(Gauge, Exposition) {
  Gauge g;
  g.set(-0.25);
  std::string out;
  g.appendSamples(out, "temp", "");
  EXPECT_EQ(out, "temp -0.25\n");
}

}  // namespace
}  // namespace mamba::metrics
