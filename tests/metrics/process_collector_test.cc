#include "server/metrics/process_collector.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <regex>

namespace mamba::metrics {
namespace {

double sampleValue(const std::string& text, const std::string& name) {
  std::smatch m;
  const std::regex re("\n" + name + " ([^\n]+)\n");
  if (!std::regex_search(text, m, re)) return -1;
  return std::stod(m[1].str());
}

TEST(ProcessCollector, ReadsPlausibleStats) {
  auto stats = readProcessStats();
  ASSERT_TRUE(stats.isOk()) << stats.status().toString();
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(stats->startTimeSeconds, now + 1);
  EXPECT_GT(stats->startTimeSeconds, now - 24 * 3600.0);
  EXPECT_GE(stats->cpuSeconds, 0.0);
  EXPECT_GT(stats->residentBytes, 1u << 20);
  EXPECT_GE(stats->virtualBytes, stats->residentBytes);
  EXPECT_GE(stats->openFds, 3u);
  EXPECT_GT(stats->maxFds, 0u);
}

TEST(ProcessCollector, ExposesStandardNamesAndTracksFds) {
  Registry r;
  ASSERT_TRUE(registerProcessCollector(r).isOk());
  const std::string before = r.exposeText();
  for (const char* name : {"process_start_time_seconds", "process_cpu_seconds_total",
                           "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_open_fds", "process_max_fds"}) {
    EXPECT_NE(before.find(std::string("\n") + name + " "), std::string::npos) << name;
  }
  EXPECT_NE(before.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);

  const double fdsBefore = sampleValue(before, "process_open_fds");
  int fds[5];
  for (int& fd : fds) fd = open("/dev/null", O_RDONLY);
  const double fdsAfter = sampleValue(r.exposeText(), "process_open_fds");
  for (int fd : fds) close(fd);
  EXPECT_EQ(fdsAfter - fdsBefore, 5.0);

  // CPU seconds never decrease across scrapes.
  volatile double sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  EXPECT_GE(sampleValue(r.exposeText(), "process_cpu_seconds_total"),
            sampleValue(before, "process_cpu_seconds_total"));
}

TEST(ProcessCollector, SecondRegistrationFails) {
  Registry r;
  ASSERT_TRUE(registerProcessCollector(r).isOk());
  auto again = registerProcessCollector(r);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace mamba::metrics
