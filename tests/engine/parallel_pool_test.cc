// ParallelPool: every index runs exactly once per loop, on several threads, loop after loop.
#include "server/engine/parallel_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace mamba {
namespace {

TEST(ParallelPool, EveryIndexOnceOverManyLoops) {
  ParallelPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (size_t n : {0, 1, 2, 3, 4, 5, 17, 64, 1000}) {
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallelFor(n, [&](size_t i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n " << n << " rep " << rep << " i " << i;
    }
  }
}

TEST(ParallelPool, RunsOnSeveralThreadsAndTheCaller) {
  ParallelPool pool(2);
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<int> arrived{0};
  // Each call waits (bounded) until three calls are in flight, so all three threads take part.
  pool.parallelFor(3, [&](size_t) {
    {
      std::lock_guard lock(m);
      ids.insert(std::this_thread::get_id());
    }
    arrived.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (arrived.load() < 3 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  });
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.count(std::this_thread::get_id()));
}

TEST(ParallelPool, DefaultThreadsIsBounded) {
  const int t = ParallelPool::defaultThreads();
  EXPECT_GE(t, 1);
  EXPECT_LE(t, 8);
}

}  // namespace
}  // namespace mamba
