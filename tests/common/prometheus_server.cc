#include "tests/common/prometheus_server.h"

#include <httplib.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

namespace mamba::testing {

using namespace std::chrono_literals;

bool PrometheusServer::available(const std::string& executable) {
  return std::filesystem::exists(executable);
}

PrometheusServer::PrometheusServer(const std::string& target, const std::string& executable) {
  port_ = freeTcpPort();
  const auto config = dir_.path() / "prometheus.yml";
  writeFile(config,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: mamba-server\n"  // as in deploy/prometheus/prometheus.yml
            "    static_configs:\n"
            "      - targets: ['" + target + "']\n");
  child_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{executable, "--config.file=" + config.string(),
                               "--storage.tsdb.path=" + (dir_.path() / "data").string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
      dir_.path() / "prometheus.log");
  started_ = port_ > 0 && child_->started();
}

PrometheusServer::~PrometheusServer() { stop(); }

int PrometheusServer::stop() { return child_ ? child_->stop() : -1; }

std::string PrometheusServer::logTail(size_t bytes) const {
  const std::string log = readFile(dir_.path() / "prometheus.log");
  return log.size() <= bytes ? log : log.substr(log.size() - bytes);
}

std::string PrometheusServer::apiGet(const std::string& pathAndQuery) {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(1);
  client.set_read_timeout(3);
  auto res = client.Get(pathAndQuery.c_str());
  if (!res || res->status != 200) return "";
  lastResponse_ = res->body;
  return res->body;
}

bool PrometheusServer::waitTargetUp(Clock::time_point deadline) {
  while (Clock::now() < deadline && alive()) {
    auto json = nlohmann::json::parse(apiGet("/api/v1/targets"), nullptr, false);
    if (!json.is_discarded() && json.is_object()) {
      for (const auto& t : json["data"]["activeTargets"]) {
        if (t.value("health", "") == "up") return true;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

std::optional<double> PrometheusServer::query(const std::string& promql) {
  const std::string path = httplib::append_query_params("/api/v1/query", {{"query", promql}});
  auto json = nlohmann::json::parse(apiGet(path), nullptr, false);
  if (json.is_discarded() || !json.is_object() || json.value("status", "") != "success") {
    return std::nullopt;
  }
  const auto& result = json["data"]["result"];
  if (!result.is_array() || result.empty()) return std::nullopt;
  const double value = std::stod(result[0]["value"][1].get<std::string>());
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> PrometheusServer::waitForValue(const std::string& promql,
                                                     Clock::time_point deadline) {
  while (Clock::now() < deadline && alive()) {
    if (auto v = query(promql)) return v;
    std::this_thread::sleep_for(500ms);
  }
  return std::nullopt;
}

}  // namespace mamba::testing
