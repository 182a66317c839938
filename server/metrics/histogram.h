// Histogram: counts observations into cumulative buckets (`le` = "less than or equal"), plus
// their sum and count, as Prometheus expects for histogram_quantile().
//
// Bucket rule: a value v goes in the first bucket whose upper bound b satisfies v <= b, so a
// value equal to a bound counts in that bound's bucket; values above every bound count only
// in the implicit +Inf bucket. NaN observations are ignored (they would poison _sum forever).
//
// Threading: observe() is lock-free (one binary search, one atomic add per bucket and sum)
// and safe from any thread. A scrape that races observe() may see _sum lag _count by the
// in-flight observations; _count always equals the +Inf bucket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"
#include "server/metrics/metric_type.h"

namespace mamba::metrics {

// The validated upper bounds of a histogram family, shared by all its children.
struct BucketLayout {
  std::vector<double> bounds;         // Finite, strictly increasing; +Inf is implicit.
  std::vector<std::string> leLabels;  // Pre-formatted `le="<bound>"` pairs, +Inf last.
};

class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;
  using Config = std::shared_ptr<const BucketLayout>;

  // Validates `bounds`: no NaN, strictly increasing; a trailing +Inf is accepted and
  // dropped (it is always implicit). An empty list leaves only the +Inf bucket.
  static StatusOr<Config> makeConfig(std::vector<double> bounds);

  explicit Histogram(Config config);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one observation (seconds for latencies, a count for batch sizes).
  void observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulativeCounts;  // One per bound, then +Inf (== count).
    double sum = 0.0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return config_->bounds; }

  // Exposition: `_bucket{...,le="b"}` lines (cumulative, +Inf last), `_sum`, `_count`.
  void appendSamples(std::string& out, std::string_view name, std::string_view labelBlock) const;

 private:
  Config config_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // Per bucket, not cumulative; n + 1.
  std::atomic<double> sum_{0.0};
};

}  // namespace mamba::metrics
