// Latency samples and their summary (mean, p50/p90/p99 with linear interpolation, as numpy's
// default percentile), for the load generator's report.
#pragma once

#include <string>
#include <vector>

namespace mamba::client {

struct LatencySummary {
  size_t count = 0;
  double mean = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // seconds
};

// Linear-interpolated percentile (q in [0, 100]) of unsorted samples; 0 when empty.
double percentile(std::vector<double> samples, double q);
LatencySummary summarize(const std::vector<double>& samples);

}  // namespace mamba::client
