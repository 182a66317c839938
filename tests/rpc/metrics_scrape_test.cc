// The server's /metrics endpoint under real traffic: a real Prometheus (Debian's
// /usr/bin/prometheus) scrapes it every second and answers the TTFT p90 query of the
// dashboards; `promtool check metrics` accepts the exposition. Bounded to ~40 s.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "tests/common/prometheus_server.h"
#include "tests/common/test_support.h"
#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string scrape(metrics::MetricsServer& server) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(5);
  auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : std::string();
}

class MetricsScrape : public ::testing::Test {
 protected:
  void SetUp() override {
    LoopbackOptions options;
    options.metrics = true;
    server_ = std::make_unique<LoopbackServer>(options);
    ASSERT_TRUE(server_->status().isOk()) << server_->status().toString();
  }
  // Streams (greedy, varied lengths) until `stop`.
  void generateUntil(std::atomic<bool>& stop) {
    auto stub = server_->stub();
    for (uint32_t i = 0; !stop.load(); ++i) {
      StreamResult r = runStream(*stub, greedyRequest(promptIds(4 + i % 32, i), 4 + i % 16), 30s);
      EXPECT_TRUE(r.status.ok()) << r.status.error_message();
      std::this_thread::sleep_for(20ms);
    }
  }
  std::unique_ptr<LoopbackServer> server_;
};

TEST_F(MetricsScrape, ExpositionPassesPromtool) {
  if (!std::filesystem::exists(MAMBA_PROMTOOL)) GTEST_SKIP() << MAMBA_PROMTOOL << " missing";
  auto stub = server_->stub();
  for (uint32_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(runStream(*stub, greedyRequest(promptIds(8, i), 8)).status.ok());
  }
  const std::string text = scrape(*server_->metricsServer());
  ASSERT_FALSE(text.empty());
  for (const char* family : {"mamba_request_ttft_seconds_bucket", "mamba_request_tpot_seconds_bucket",
                             "mamba_requests_total", "mamba_generation_tokens_total",
                             "mamba_state_slots_capacity", "process_cpu_seconds_total",
                             "mamba_build_info"}) {
    EXPECT_NE(text.find(family), std::string::npos) << family;
  }
  EXPECT_NE(text.find("mamba_request_ttft_seconds_count{model=\"tiny\",variant=\"dense\"} 8"),
            std::string::npos);
  testing::TempDir dir;
  testing::writeFile(dir.path() / "metrics.txt", text);
  auto result = testing::runCommand({MAMBA_PROMTOOL, "check", "metrics"},
                                    (dir.path() / "metrics.txt").string(), 20s);
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

TEST_F(MetricsScrape, RealPrometheusAnswersTtftQuantile) {
  if (!testing::PrometheusServer::available()) GTEST_SKIP() << MAMBA_PROMETHEUS << " missing";
  const auto deadline = Clock::now() + 40s;
  std::atomic<bool> stop{false};
  std::thread traffic([&] { generateUntil(stop); });
  struct StopOnExit {
    std::atomic<bool>& flag;
    std::thread& thread;
    ~StopOnExit() {
      flag.store(true);
      thread.join();
    }
  } stopper{stop, traffic};

  testing::PrometheusServer prometheus(server_->metricsServer()->address());
  ASSERT_TRUE(prometheus.started());
  ASSERT_TRUE(prometheus.waitTargetUp(deadline))
      << prometheus.lastResponse() << "\n--- prometheus log ---\n" << prometheus.logTail();
  std::this_thread::sleep_for(3s);  // a few scrapes, so that rate() has two samples
  const std::string query =
      "histogram_quantile(0.9, sum by (le) (rate(mamba_request_ttft_seconds_bucket[1m])))";
  std::optional<double> p90 = prometheus.waitForValue(query, deadline);
  ASSERT_TRUE(p90.has_value()) << "query " << query << " gave " << prometheus.lastResponse()
                               << "\n--- prometheus log ---\n" << prometheus.logTail();
  EXPECT_GT(*p90, 0.0);
  EXPECT_LT(*p90, 60.0);
  // Per-model series made it through the scrape too.
  EXPECT_TRUE(prometheus.query("sum(mamba_requests_total{model=\"tiny\",status=\"OK\"})").has_value());
  EXPECT_TRUE(prometheus.query("mamba_state_slots_capacity{model=\"tiny\"}").has_value());
}

}  // namespace
}  // namespace mamba::rpctest
