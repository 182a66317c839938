// 32 concurrent greedy streams, each identical to the same request run alone: batching does
// not change results, and the stream plumbing does not mix up calls.
#include <gtest/gtest.h>

#include <thread>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

TEST(Concurrency, ThirtyTwoStreamsMatchTheirSoloResults) {
  LoopbackOptions options;
  options.slots = 32;
  options.scheduler.maxBatch = 32;
  LoopbackServer server(options);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  constexpr int kStreams = 32;
  std::vector<pb::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    // Prompt lengths 1..94 and output lengths 8..39 differ per request, so requests join and
    // leave the batch at different steps.
    requests.push_back(greedyRequest(promptIds(1 + 3 * i, 100 + i), 8 + i));
  }
  auto stub = server.stub();
  std::vector<StreamResult> solo;
  for (const auto& req : requests) {
    solo.push_back(runStream(*stub, req));
    ASSERT_TRUE(solo.back().status.ok()) << solo.back().status.error_message();
  }

  std::vector<StreamResult> together(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      auto own = server.stub();
      together[i] = runStream(*own, requests[i]);
    });
  }
  for (auto& t : threads) t.join();

  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE("stream " + std::to_string(i));
    ASSERT_TRUE(together[i].status.ok()) << together[i].status.error_message();
    EXPECT_EQ(together[i].tokens, solo[i].tokens);
    EXPECT_EQ(together[i].text, solo[i].text);
    ASSERT_TRUE(together[i].final.has_value());
    EXPECT_EQ(together[i].final->timing().generated_tokens(), 8 + i);
  }
}

}  // namespace
}  // namespace mamba::rpctest
