#include "server/rpc/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace mamba::rpc {
namespace {

TEST(WorkerPool, RunsTasksAndBoundsTheQueue) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  std::promise<void> started;
  ASSERT_TRUE(pool.trySubmit([&] { started.set_value(); gate.wait(); ++ran; }));
  started.get_future().wait();  // the worker is busy; the queue is empty
  EXPECT_TRUE(pool.trySubmit([&] { ++ran; }));
  EXPECT_TRUE(pool.trySubmit([&] { ++ran; }));
  EXPECT_FALSE(pool.trySubmit([&] { ++ran; }));  // queue full
  release.set_value();
  pool.stop();  // runs what was queued, then joins
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(pool.trySubmit([] {}));
  pool.stop();
}

}  // namespace
}  // namespace mamba::rpc
