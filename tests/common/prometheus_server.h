// A real Prometheus server (Debian's /usr/bin/prometheus) for tests: scrapes one target every
// second on a free loopback port, with its TSDB in a temporary directory, and answers PromQL
// over its HTTP API. The child is stopped (SIGTERM, then SIGKILL) by the destructor on every
// path, and dies with the test process.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tests/common/test_support.h"

namespace mamba::testing {

#ifndef MAMBA_PROMETHEUS
#define MAMBA_PROMETHEUS "/usr/bin/prometheus"
#endif
#ifndef MAMBA_PROMTOOL
#define MAMBA_PROMTOOL "/usr/bin/promtool"
#endif

class PrometheusServer {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts scraping `target` ("host:port", path /metrics).
  explicit PrometheusServer(const std::string& target,
                            const std::string& executable = MAMBA_PROMETHEUS);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  static bool available(const std::string& executable = MAMBA_PROMETHEUS);

  bool started() const { return started_; }
  bool alive() { return child_ && child_->alive(); }
  int port() const { return port_; }

  // Polls /api/v1/targets until the target is "up"; false on timeout.
  bool waitTargetUp(Clock::time_point deadline);
  // Instant query; the first result's value when finite, else nullopt.
  std::optional<double> query(const std::string& promql);
  // Polls query() until it yields a finite value or the deadline passes.
  std::optional<double> waitForValue(const std::string& promql, Clock::time_point deadline);

  // The last API response seen (for failure messages) and the tail of the server's log.
  const std::string& lastResponse() const { return lastResponse_; }
  std::string logTail(size_t bytes = 4000) const;

  int stop();

 private:
  std::string apiGet(const std::string& pathAndQuery);

  TempDir dir_;
  int port_ = 0;
  bool started_ = false;
  std::unique_ptr<ChildProcess> child_;
  std::string lastResponse_;
};

}  // namespace mamba::testing
