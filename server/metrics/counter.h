// Counter: a monotonically increasing double (requests, tokens, CPU seconds).
//
// Threading: inc() and value() are lock-free and safe from any thread; a Counter handed out
// by a Family lives as long as its Registry.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "server/metrics/metric_type.h"

namespace mamba::metrics {

static_assert(std::atomic<double>::is_always_lock_free, "hot-path metrics must be lock-free");

class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;
  struct Config {};  // Counters take no per-family configuration.

  explicit Counter(const Config& = {}) {}
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount` (>= 0, in the metric's unit). Negative and NaN amounts are ignored: a
  // counter never goes down.
  void inc(double amount = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

  // Exposition: `<name>{<labelBlock>} <value>`.
  void appendSamples(std::string& out, std::string_view name, std::string_view labelBlock) const;

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace mamba::metrics
