// The server's /metrics endpoint under real traffic: a real Prometheus (Debian's
// /usr/bin/prometheus) scrapes it every second and answers the TTFT p90 query, then every
// query of the shipped Grafana dashboard and recording rules (deploy/); `promtool check
// metrics` accepts the exposition, and `promtool check config` / `check rules` the shipped
// Prometheus files. Bounded to ~40 s.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>
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

std::string deployFile(const std::string& relative) {
  return (std::filesystem::path(MAMBA_SOURCE_DIR) / "deploy" / relative).string();
}

// Every `expr` of the shipped Grafana dashboard, with the dashboard's variables bound the way
// Grafana binds them for "All" ($model, $variant -> .*) and a 1m rate interval.
std::vector<std::string> dashboardQueries() {
  auto dashboard = nlohmann::json::parse(testing::readFile(deployFile("grafana/dashboards/mamba-serving.json")));
  std::vector<std::string> out;
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      std::string e = target.at("expr").get<std::string>();
      e = std::regex_replace(e, std::regex(R"(\$__rate_interval)"), "1m");
      e = std::regex_replace(e, std::regex(R"(\$(model|variant))"), ".*");
      out.push_back(e);
    }
  }
  return out;
}

// The recording rules' expressions of deploy/prometheus/rules.yml ("expr: ..." lines and
// "expr: |" blocks of "- record:" rules; alert expressions are conditions, empty when calm).
std::vector<std::string> recordingRuleQueries() {
  std::vector<std::string> out;
  std::istringstream in(testing::readFile(deployFile("prometheus/rules.yml")));
  bool record = false;                      // inside a "- record:" rule
  size_t blockIndent = std::string::npos;   // the "expr: |" key's column while reading its block
  for (std::string line; std::getline(in, line);) {
    const size_t indent = line.find_first_not_of(' ');
    if (blockIndent != std::string::npos) {
      if (indent != std::string::npos && indent > blockIndent) {
        if (!out.back().empty()) out.back() += ' ';
        out.back() += line.substr(indent);  // (not "a" + b: GCC 12's -Wrestrict false positive)
        continue;
      }
      blockIndent = std::string::npos;
    }
    if (line.find("- record:") != std::string::npos) record = true;
    if (line.find("- alert:") != std::string::npos) record = false;
    const size_t at = line.find("expr: ");
    if (!record || at == std::string::npos) continue;
    const std::string e = line.substr(at + 6);
    if (e == "|") {
      out.emplace_back();
      blockIndent = at;
    } else {
      out.push_back(e);
    }
  }
  return out;
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

  // The shipped dashboard and rules: every query runs, every metric it names is exported, and
  // under this traffic each returns a value (panels and alerts that never show data are bugs).
  const std::string exposition = scrape(*server_->metricsServer());
  std::set<std::string> names;
  const std::regex sample(R"(^([a-z_:]+?)(_bucket|_sum|_count)?[{ ])");
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, sample)) {
      names.insert(m[1].str());
      names.insert(m[1].str() + m[2].str());
    }
  }
  names.insert("up");
  std::vector<std::string> queries = dashboardQueries();
  const std::vector<std::string> rules = recordingRuleQueries();
  ASSERT_EQ(rules.size(), 4u) << "recording rules parsed from rules.yml";
  queries.insert(queries.end(), rules.begin(), rules.end());
  ASSERT_GE(queries.size(), 20u);
  const std::regex metric(R"(\b(mamba_[a-z_]+|process_[a-z_]+)\b)");
  for (const std::string& q : queries) {
    for (auto it = std::sregex_iterator(q.begin(), q.end(), metric); it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(names.count((*it)[1].str())) << (*it)[1].str() << " (in " << q << ") is not exported";
    }
    if (q.find("status!~\"OK|CANCELLED\"") != std::string::npos) continue;  // no failures here: empty
    EXPECT_TRUE(prometheus.waitForValue(q, deadline).has_value()) << q << " gave " << prometheus.lastResponse();
  }
}

TEST(DeployFiles, PrometheusConfigAndRulesPassPromtool) {
  if (!std::filesystem::exists(MAMBA_PROMTOOL)) GTEST_SKIP() << MAMBA_PROMTOOL << " missing";
  auto config = testing::runCommand({MAMBA_PROMTOOL, "check", "config", deployFile("prometheus/prometheus.yml")}, "", 20s);
  EXPECT_EQ(config.exitCode, 0) << config.output;
  auto rules = testing::runCommand({MAMBA_PROMTOOL, "check", "rules", deployFile("prometheus/rules.yml")}, "", 20s);
  EXPECT_EQ(rules.exitCode, 0) << rules.output;
  EXPECT_NE(rules.output.find("SUCCESS: 9 rules found"), std::string::npos) << rules.output;
}

}  // namespace
}  // namespace mamba::rpctest
