#include "server/metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/metrics/text_format.h"

namespace mamba::metrics {

StatusOr<Histogram::Config> Histogram::makeConfig(std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) {
    bounds.pop_back();
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return invalidArgument("histogram bucket bound " + std::to_string(i) +
                             " is not finite (+Inf is only allowed last)");
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return invalidArgument("histogram bucket bounds must be strictly increasing; bound " +
                             std::to_string(i) + " (" + formatDouble(bounds[i]) +
                             ") follows " + formatDouble(bounds[i - 1]));
    }
  }
  auto layout = std::make_shared<BucketLayout>();
  layout->leLabels.reserve(bounds.size() + 1);
  for (double b : bounds) layout->leLabels.push_back("le=\"" + formatDouble(b) + "\"");
  layout->leLabels.push_back("le=\"+Inf\"");
  layout->bounds = std::move(bounds);
  return Config(std::move(layout));
}

Histogram::Histogram(Config config)
    : config_(std::move(config)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(config_->bounds.size() + 1)) {}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  const auto& bounds = config_->bounds;
  // First bound >= value: a value equal to a bound belongs to that bound's bucket.
  const size_t index =
      static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  const size_t n = config_->bounds.size() + 1;
  snap.cumulativeCounts.resize(n);
  uint64_t running = 0;
  for (size_t i = 0; i < n; ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snap.cumulativeCounts[i] = running;
  }
  snap.count = running;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

void Histogram::appendSamples(std::string& out, std::string_view name,
                              std::string_view labelBlock) const {
  const Snapshot snap = snapshot();
  std::string number;
  for (size_t i = 0; i < snap.cumulativeCounts.size(); ++i) {
    number.clear();
    appendUint(number, snap.cumulativeCounts[i]);
    appendSampleLine(out, name, "_bucket", labelBlock, config_->leLabels[i], number);
  }
  appendSampleLine(out, name, "_sum", labelBlock, "", formatDouble(snap.sum));
  number.clear();
  appendUint(number, snap.count);
  appendSampleLine(out, name, "_count", labelBlock, "", number);
}

}  // namespace mamba::metrics
