#include "server/metrics/gauge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
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

TEST(GaugeShare, ContributionsAddUpAndLeaveWithTheirOwner) {
  Gauge g;
  auto first = std::make_unique<GaugeShare>(&g);
  first->set(5);
  {
    GaugeShare second(&g);  // a second scheduler of the same variant (hot swap)
    second.set(3);
    EXPECT_EQ(g.value(), 8.0);
    first->set(2);
    EXPECT_EQ(g.value(), 5.0);
    EXPECT_EQ(second.value(), 3.0);
  }
  EXPECT_EQ(g.value(), 2.0);  // the destroyed share withdrew its 3
  first.reset();
  EXPECT_EQ(g.value(), 0.0);
  GaugeShare none(nullptr);
  none.set(7);  // no gauge: a no-op
  EXPECT_EQ(none.value(), 0.0);
}

TEST(GaugeShare, ConcurrentSharesBalance) {
  Gauge g;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&g, t] {
      GaugeShare share(&g);
      for (int i = 0; i < 20000; ++i) share.set((i + t) % 17);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(g.value(), 0.0);
}

}  // namespace
}  // namespace mamba::metrics
