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

// One contributor's part of a Gauge that several contributors add up: the two schedulers of a
// model variant while a hot swap retires the old one both report running requests, waiting
// requests and slots into the same series. set() moves the gauge by the change in this
// contributor's value; destruction withdraws the contribution (set(0)). A null gauge makes every
// call a no-op.
// Threading: one writer at a time per share (its owner serialises the calls); the Gauge itself
// takes concurrent shares.
class GaugeShare {
 public:
  explicit GaugeShare(Gauge* gauge = nullptr) : gauge_(gauge) {}
  ~GaugeShare() { set(0); }
  GaugeShare(const GaugeShare&) = delete;
  GaugeShare& operator=(const GaugeShare&) = delete;

  void set(double value) {
    if (!gauge_ || value == value_) return;
    gauge_->inc(value - value_);
    value_ = value;
  }
  double value() const { return value_; }

 private:
  Gauge* gauge_;
  double value_ = 0;
};

}  // namespace mamba::metrics
