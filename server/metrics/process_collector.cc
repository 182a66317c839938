#include "server/metrics/process_collector.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "server/common/file_util.h"

namespace mamba::metrics {
namespace {

StatusOr<double> bootTimeSeconds() {
  MAMBA_ASSIGN_OR_RETURN(std::string stat, readWholeFile("/proc/stat", "proc file"));
  std::istringstream in(stat);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return dataLoss("/proc/stat has no btime line");
}

}  // namespace

StatusOr<ProcessStats> readProcessStats() {
  MAMBA_ASSIGN_OR_RETURN(std::string stat, readWholeFile("/proc/self/stat", "proc file"));
  // Fields after the parenthesised command name (which may contain spaces), starting at
  // field 3 (state); see proc(5).
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return dataLoss("malformed /proc/self/stat");
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() < 22) return dataLoss("short /proc/self/stat");
  auto field = [&](int n) { return std::stoull(fields[static_cast<size_t>(n - 3)]); };

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const uint64_t pageSize = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  MAMBA_ASSIGN_OR_RETURN(double bootTime, bootTimeSeconds());

  ProcessStats stats;
  stats.cpuSeconds = static_cast<double>(field(14) + field(15)) / ticks;
  stats.startTimeSeconds = bootTime + static_cast<double>(field(22)) / ticks;
  stats.virtualBytes = field(23);
  stats.residentBytes = field(24) * pageSize;

  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++stats.openFds;
  }
  if (ec) return unavailable("cannot list /proc/self/fd: " + ec.message());
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.maxFds = limit.rlim_cur;
  return stats;
}

Status registerProcessCollector(Registry& registry) {
  if (auto existing = registry.familyNames();
      std::find(existing.begin(), existing.end(), "process_cpu_seconds_total") != existing.end()) {
    return Status(StatusCode::kAlreadyExists, "process collector already registered");
  }
  MAMBA_ASSIGN_OR_RETURN(auto* start, registry.gauge("process_start_time_seconds",
                                                     "Start time of the process since unix "
                                                     "epoch in seconds."));
  MAMBA_ASSIGN_OR_RETURN(auto* cpu, registry.counter("process_cpu_seconds_total",
                                                     "Total user and system CPU time spent "
                                                     "in seconds."));
  MAMBA_ASSIGN_OR_RETURN(auto* rss, registry.gauge("process_resident_memory_bytes",
                                                   "Resident memory size in bytes."));
  MAMBA_ASSIGN_OR_RETURN(auto* vms, registry.gauge("process_virtual_memory_bytes",
                                                   "Virtual memory size in bytes."));
  MAMBA_ASSIGN_OR_RETURN(auto* fds, registry.gauge("process_open_fds",
                                                   "Number of open file descriptors."));
  MAMBA_ASSIGN_OR_RETURN(auto* maxFds, registry.gauge("process_max_fds",
                                                      "Maximum number of open file "
                                                      "descriptors."));
  Gauge* startG = start->withLabels({}).value();
  Counter* cpuC = cpu->withLabels({}).value();
  Gauge* rssG = rss->withLabels({}).value();
  Gauge* vmsG = vms->withLabels({}).value();
  Gauge* fdsG = fds->withLabels({}).value();
  Gauge* maxFdsG = maxFds->withLabels({}).value();

  auto refresh = [=](Registry&) {
    auto stats = readProcessStats();
    if (!stats.isOk()) return;
    startG->set(stats->startTimeSeconds);
    // Collectors run one scrape at a time, so read-then-inc keeps the counter equal to the
    // kernel's figure without ever decreasing it.
    const double delta = stats->cpuSeconds - cpuC->value();
    if (delta > 0) cpuC->inc(delta);
    rssG->set(static_cast<double>(stats->residentBytes));
    vmsG->set(static_cast<double>(stats->virtualBytes));
    fdsG->set(static_cast<double>(stats->openFds));
    maxFdsG->set(static_cast<double>(stats->maxFds));
  };
  refresh(registry);
  registry.addCollector(std::move(refresh));
  return Status::ok();
}

}  // namespace mamba::metrics
