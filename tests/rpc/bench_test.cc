// The load generator against the loopback server: bounded by request count or by duration,
// every request measured, report and JSON consistent.
#include "client/bench.h"
#include "client/cli_error.h"

#include <gtest/gtest.h>

#include "tests/rpc/loopback_server.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;

TEST(Bench, RequestBoundRunMeasuresEveryRequest) {
  LoopbackOptions options;
  options.slots = 4;
  LoopbackServer server(options);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  client::BenchOptions bench;
  bench.concurrency = 4;
  bench.requests = 24;
  bench.promptTokens = client::LengthDistribution(4, 32);
  bench.outputTokens = client::LengthDistribution(8, 16);
  bench.warmupRequests = 1;
  const client::BenchReport r = client::runBench(bench, server.channel(), server.address());
  EXPECT_EQ(r.succeeded, 24);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.model, kModelName);
  EXPECT_EQ(r.ttft.count, 24u);
  EXPECT_EQ(r.tpot.count, 24u);
  EXPECT_GE(r.outputTokens, 24 * 8);
  EXPECT_LE(r.outputTokens, 24 * 16);
  EXPECT_GT(r.ttft.p50, 0);
  EXPECT_LE(r.ttft.p50, r.ttft.p90);
  EXPECT_LE(r.ttft.p90, r.ttft.p99);
  EXPECT_LE(r.ttft.p99, r.e2e.max);
  EXPECT_GT(r.outputTokensPerSecond, 0);
  const auto json = client::reportToJson(r);
  EXPECT_EQ(json["succeeded"], 24);
  EXPECT_EQ(json["concurrency"], 4);
  EXPECT_TRUE(json["ttft_seconds"].contains("p99"));
  const std::string table = client::formatReport(r);
  EXPECT_NE(table.find("TTFT"), std::string::npos);
  EXPECT_NE(table.find("TPOT"), std::string::npos);
}

TEST(Bench, DurationBoundRunStops) {
  LoopbackServer server;
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  client::BenchOptions bench;
  bench.concurrency = 2;
  bench.requests = 0;
  bench.durationSeconds = 0.5;
  bench.outputTokens = client::LengthDistribution(4, 4);
  const auto start = std::chrono::steady_clock::now();
  const client::BenchReport r = client::runBench(bench, server.channel(), server.address());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_GT(r.succeeded, 0);
  EXPECT_EQ(r.failed, 0);
}

TEST(Bench, UnknownModelIsAnError) {
  LoopbackServer server;
  ASSERT_TRUE(server.status().isOk());
  client::BenchOptions bench;
  bench.model = "nope";
  EXPECT_THROW(client::runBench(bench, server.channel(), server.address()), client::CliError);
}

}  // namespace
}  // namespace mamba::rpctest
