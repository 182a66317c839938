// Client cancellation and deadlines: the engine request is dropped and its slot freed (a
// request that could only run in that slot then succeeds), and the client sees CANCELLED /
// DEADLINE_EXCEEDED.
#include <gtest/gtest.h>

#include <thread>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;

// One slot, and a max_new_tokens limit high enough that an uncancelled request would hold
// the slot for minutes.
LoopbackOptions oneSlot() {
  LoopbackOptions o;
  o.slots = 1;
  o.scheduler.maxBatch = 1;
  o.scheduler.maxNewTokensLimit = 1 << 22;
  return o;
}

constexpr int32_t kForever = 1 << 22;

// The next request can only run once the slot is free.
void expectSlotFree(pb::Inference::Stub& stub) {
  StreamResult next = runStream(stub, greedyRequest(promptIds(4, 2), 4), 20s);
  EXPECT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.tokens.size(), 4u);
}

TEST(Cancellation, ClientCancelMidStreamFreesTheSlot) {
  LoopbackServer server(oneSlot());
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  grpc::ClientContext ctx;
  auto reader = stub->GenerateStream(&ctx, greedyRequest(promptIds(8, 1), kForever));
  pb::GenerateStreamResponse msg;
  int tokens = 0;
  while (tokens < 5 && reader->Read(&msg)) tokens += msg.chunk().token_ids_size();
  ASSERT_GE(tokens, 5);
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  expectSlotFree(*stub);
  // The engine counted it as cancelled.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (counterValue(server.registry(), requestsTotal("CANCELLED")) < 1 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(counterValue(server.registry(), requestsTotal("CANCELLED")), 1);
}

TEST(Cancellation, ClientCancelOfUnaryGenerateFreesTheSlot) {
  LoopbackServer server(oneSlot());
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  grpc::ClientContext ctx;
  pb::GenerateResponse resp;
  grpc::Status status;
  std::thread call([&] { status = stub->Generate(&ctx, greedyRequest(promptIds(8, 1), kForever), &resp); });
  // Wait until the request runs (the slot is in use), then cancel it.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (server.rpc().activeCalls() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(50ms);
  ctx.TryCancel();
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  expectSlotFree(*stub);
}

TEST(Cancellation, DeadlineWhileDecodingIsDeadlineExceeded) {
  LoopbackServer server(oneSlot());
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  const auto start = std::chrono::steady_clock::now();
  StreamResult r = runStream(*stub, greedyRequest(promptIds(8, 4), kForever), 300ms);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_FALSE(r.final.has_value());
  UnaryResult u = runUnary(*stub, greedyRequest(promptIds(8, 4), kForever), 300ms);
  EXPECT_EQ(u.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  expectSlotFree(*stub);
}

TEST(Cancellation, DeadlineWhileQueuedIsDeadlineExceeded) {
  LoopbackServer server(oneSlot());
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  // Occupy the only slot, then queue a request with a short deadline behind it.
  grpc::ClientContext hog;
  auto reader = stub->GenerateStream(&hog, greedyRequest(promptIds(8, 1), kForever));
  pb::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  StreamResult queued = runStream(*stub, greedyRequest(promptIds(4, 3), 4), 200ms);
  EXPECT_EQ(queued.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(queued.tokens.empty());
  hog.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  expectSlotFree(*stub);
}

}  // namespace
}  // namespace mamba::rpctest
