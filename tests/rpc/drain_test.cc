// Draining: new calls get UNAVAILABLE and health turns NOT_SERVING while an in-flight stream
// runs to completion; past the drain timeout, what is left is cancelled.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;

TEST(Drain, NewCallsUnavailableWhileInFlightStreamCompletes) {
  LoopbackServer server;
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  constexpr int32_t kTokens = 2000;

  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(120s));
  auto reader = stub->GenerateStream(&ctx, greedyRequest(promptIds(8, 1), kTokens));
  pb::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  size_t tokens = msg.chunk().token_ids_size();

  // Drain in the background, as the signal handler of mamba-server does.
  auto drained = std::async(std::launch::async, [&] { return server.rpc().drainAndShutdown(120s); });
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!server.rpc().draining() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(server.rpc().draining());
  EXPECT_EQ(server.rpc().activeCalls(), 1) << "the stream ended before the checks ran";

  // New calls of every kind are refused, and counted as UNAVAILABLE requests of their model.
  const double unavailableBefore = counterValue(server.registry(), requestsTotal("UNAVAILABLE"));
  ASSERT_GE(unavailableBefore, 0);
  UnaryResult unary = runUnary(*stub, greedyRequest(promptIds(4, 2), 4), 10s);
  EXPECT_EQ(unary.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(unary.status.error_message().find("draining"), std::string::npos);
  StreamResult stream = runStream(*stub, greedyRequest(promptIds(4, 2), 4), 10s);
  EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext sctx;
    sctx.set_deadline(deadlineIn(10s));
    pb::ScoreRequest sreq;
    sreq.set_context_text("a");
    sreq.add_continuations("b");
    pb::ScoreResponse sresp;
    EXPECT_EQ(stub->Score(&sctx, sreq, &sresp).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(counterValue(server.registry(), requestsTotal("UNAVAILABLE")), unavailableBefore + 3);
  {
    auto health = server.healthStub();
    grpc::ClientContext hctx;
    hctx.set_deadline(deadlineIn(10s));
    grpc::health::v1::HealthCheckResponse hresp;
    ASSERT_TRUE(health->Check(&hctx, grpc::health::v1::HealthCheckRequest(), &hresp).ok());
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }

  // The in-flight stream runs to its end, final message included.
  bool sawFinal = false;
  while (reader->Read(&msg)) {
    tokens += msg.chunk().token_ids_size();
    sawFinal = sawFinal || msg.has_final();
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(sawFinal);
  EXPECT_EQ(tokens, static_cast<size_t>(kTokens));
  EXPECT_TRUE(drained.get()) << "drain reported a timeout";
}

TEST(Drain, TimeoutCancelsWhatIsLeft) {
  LoopbackOptions options;
  options.scheduler.maxNewTokensLimit = 1 << 22;
  LoopbackServer server(options);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(60s));
  auto reader = stub->GenerateStream(&ctx, greedyRequest(promptIds(8, 1), 1 << 22));
  pb::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(server.rpc().drainAndShutdown(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  while (reader->Read(&msg)) {
  }
  grpc::Status s = reader->Finish();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(server.rpc().activeCalls(), 0);
}

}  // namespace
}  // namespace mamba::rpctest
