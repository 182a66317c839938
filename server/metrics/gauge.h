// Gauge: a double that goes up and down (running requests, slots in use, bytes).
//
// Threading: every operation is lock-free and safe from any thread; a Gauge handed out by a
// Family lives as long as its Registry.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "server/metrics/metric_type.h"

namespace mamba::metrics {

class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;
  struct Config {};  // Gauges take no per-family configuration.

  explicit Gauge(const Config& = {}) {}
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1.0) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  // Sets the gauge to the current Unix time in seconds.
  void setToCurrentTime();
  double value() const { return value_.load(std::memory_order_relaxed); }

  // Exposition: `<name>{<labelBlock>} <value>`.
  void appendSamples(std::string& out, std::string_view name, std::string_view labelBlock) const;

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace mamba::metrics
