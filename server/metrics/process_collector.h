// Standard process metrics, read from /proc at scrape time (Linux), with the names the
// official Prometheus clients use so that stock dashboards work:
//   process_start_time_seconds     gauge    Unix time the process started (seconds)
//   process_cpu_seconds_total      counter  user + system CPU time (seconds)
//   process_resident_memory_bytes  gauge    resident set size (bytes)
//   process_virtual_memory_bytes   gauge    virtual memory size (bytes)
//   process_open_fds               gauge    open file descriptors
//   process_max_fds                gauge    soft limit on open file descriptors
#pragma once

#include <cstdint>

#include "server/common/status.h"
#include "server/metrics/registry.h"

namespace mamba::metrics {

struct ProcessStats {
  double startTimeSeconds = 0.0;  // Unix time.
  double cpuSeconds = 0.0;        // utime + stime.
  uint64_t residentBytes = 0;
  uint64_t virtualBytes = 0;
  uint64_t openFds = 0;
  uint64_t maxFds = 0;
};

// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and RLIMIT_NOFILE.
StatusOr<ProcessStats> readProcessStats();

// Registers the families above on `registry` and a collector that refreshes them on every
// scrape. Call once per registry; a second call fails with ALREADY_EXISTS. A scrape whose
// /proc read fails leaves the previous values in place.
Status registerProcessCollector(Registry& registry);

}  // namespace mamba::metrics
