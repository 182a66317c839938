// A real Prometheus server (Debian's /usr/bin/prometheus) scrapes MetricsServer every second
// and answers a histogram_quantile() query over the TTFT histogram. Bounded to ~25 s; the
// child is stopped (SIGTERM, then SIGKILL) on every path by PrometheusServer's destructor.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <thread>

#include "server/metrics/build_info.h"
#include "server/metrics/metrics_server.h"
#include "server/metrics/process_collector.h"
#include "server/metrics/serving_metrics.h"
#include "tests/common/prometheus_server.h"

namespace mamba::metrics {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(PrometheusScrape, HistogramQuantileFromRealServer) {
  if (!testing::PrometheusServer::available()) GTEST_SKIP() << MAMBA_PROMETHEUS << " missing";
  const auto deadline = Clock::now() + 25s;

  Registry registry;
  auto serving = ServingMetrics::create(registry);
  ASSERT_TRUE(serving.isOk()) << serving.status().toString();
  ASSERT_TRUE(registerProcessCollector(registry).isOk());
  ASSERT_TRUE(registerBuildInfo(registry).isOk());
  const ModelMetrics* model = (*serving)->forModel("mamba2-130m", "dense").value();

  MetricsServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  MetricsServer server(registry, options);
  ASSERT_TRUE(server.start().isOk());

  // TTFT observations spread over 1..100 ms, continuously, until the test ends.
  std::atomic<bool> stopObserving{false};
  std::thread observer([&] {
    for (int i = 0; !stopObserving.load(); ++i) {
      model->ttft->observe(0.001 * (1 + i % 100));
      std::this_thread::sleep_for(2ms);
    }
  });
  struct JoinOnExit {
    std::atomic<bool>& flag;
    std::thread& thread;
    ~JoinOnExit() {
      flag.store(true);
      if (thread.joinable()) thread.join();
    }
  } joinObserver{stopObserving, observer};

  testing::PrometheusServer prometheus(server.address());
  ASSERT_TRUE(prometheus.started());

  // 1. Wait until the target has been scraped successfully.
  ASSERT_TRUE(prometheus.waitTargetUp(deadline))
      << "target never up; last response: " << prometheus.lastResponse()
      << "\n--- prometheus log ---\n" << prometheus.logTail();

  // 2. Keep observing for a few scrapes, so rate() has at least two samples per series.
  std::this_thread::sleep_for(3s);

  // 3. Query the 90th percentile of TTFT.
  const std::string query =
      "histogram_quantile(0.9, sum by (le) (rate(mamba_request_ttft_seconds_bucket[1m])))";
  std::optional<double> p90 = prometheus.waitForValue(query, deadline);
  ASSERT_TRUE(p90.has_value()) << "query " << query << " gave " << prometheus.lastResponse()
                               << "\n--- prometheus log ---\n" << prometheus.logTail();
  // Observations are uniform over 1..100 ms, so p90 interpolates inside (50 ms, 100 ms].
  EXPECT_GT(*p90, 0.05);
  EXPECT_LE(*p90, 0.1);

  // The process metrics went through the same scrape.
  EXPECT_TRUE(prometheus.query("process_open_fds").has_value()) << prometheus.lastResponse();

  const int status = prometheus.stop();
  EXPECT_NE(status, -1);
}

}  // namespace
}  // namespace mamba::metrics
