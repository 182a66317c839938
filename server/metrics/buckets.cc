#include "server/metrics/buckets.h"

namespace mamba::metrics {

std::vector<double> defaultLatencyBuckets() {
  return {50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3,
          0.1,   0.2,    0.5,    1.0,    2.0,  5.0,  10.0, 20.0,  30.0,  60.0};
}

std::vector<double> batchSizeBuckets() { return exponentialBuckets(1.0, 2.0, 10); }

std::vector<double> exponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  if (!(start > 0.0) || !(factor > 1.0)) return out;
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) out.push_back(b);
  return out;
}

std::vector<double> linearBuckets(double start, double width, int count) {
  std::vector<double> out;
  if (!(width > 0.0)) return out;
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

}  // namespace mamba::metrics
