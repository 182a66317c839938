#include "server/rpc/call_tracker.h"

#include <gtest/gtest.h>

#include <thread>

namespace mamba::rpc {
namespace {

using namespace std::chrono_literals;

TEST(CallTracker, CountsTicketsAndRefusesWhileDraining) {
  CallTracker tracker;
  auto a = tracker.enter();
  auto b = tracker.enter();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(tracker.active(), 2);
  b->release();
  b->release();  // idempotent
  EXPECT_EQ(tracker.active(), 1);
  tracker.beginDrain();
  EXPECT_TRUE(tracker.draining());
  EXPECT_FALSE(tracker.enter().has_value());
  EXPECT_FALSE(tracker.waitIdle(10ms));
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    a.reset();  // destroying the ticket releases it
  });
  EXPECT_TRUE(tracker.waitIdle(5s));
  t.join();
  EXPECT_EQ(tracker.active(), 0);
}

TEST(CallTracker, MovedTicketReleasesOnce) {
  CallTracker tracker;
  {
    auto t = tracker.enter();
    CallTracker::Ticket moved = std::move(*t);
    EXPECT_EQ(tracker.active(), 1);
  }
  EXPECT_EQ(tracker.active(), 0);
}

}  // namespace
}  // namespace mamba::rpc
