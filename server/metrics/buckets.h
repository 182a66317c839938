// Standard bucket sets.
//
// Latency buckets (seconds) follow a 1-2-5 series from 50 µs to 20 s, then 30 s and 60 s:
//   50µs 100µs 200µs 500µs 1ms 2ms 5ms 10ms 20ms 50ms 100ms 200ms 500ms
//   1s 2s 5s 10s 20s 30s 60s
// (20 bounds + +Inf). Neighbouring bounds differ by at most 2.5x, so histogram_quantile's
// linear interpolation stays within that factor for GPU decode steps (tens of µs to a few
// ms) and for CPU prefill or end-to-end requests (up to a minute).
#pragma once

#include <vector>

namespace mamba::metrics {

// The latency set above; use for every *_seconds histogram.
std::vector<double> defaultLatencyBuckets();
// Batch sizes (sequences per step): 1, 2, 4, ..., 512.
std::vector<double> batchSizeBuckets();
// `count` bounds start, start*factor, start*factor^2, ... (start > 0, factor > 1).
std::vector<double> exponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, ... (width > 0).
std::vector<double> linearBuckets(double start, double width, int count);

}  // namespace mamba::metrics
