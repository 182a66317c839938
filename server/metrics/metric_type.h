// The three metric kinds of this module, as named in the exposition's `# TYPE` line.
#pragma once

namespace mamba::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

constexpr const char* metricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace mamba::metrics
