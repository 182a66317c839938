// Linked into every test binary (add_gtest): its static initialiser installs the fatal-signal
// report of server/common/crash_report.h, with the running test's name on the first line, so
// that a crash in a test says where (gtest's own output is on stdout, buffered and lost).
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "server/common/crash_report.h"

namespace {

void writeText(int fd, const char* s) {
  if (s != nullptr) (void)!write(fd, s, std::strlen(s));
}

// " in Suite.Name" of the running test (gtest keeps the names; nothing is allocated here).
void writeRunningTest(int fd) {
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return;
  writeText(fd, " in ");
  writeText(fd, info->test_suite_name());
  writeText(fd, ".");
  writeText(fd, info->name());
}

[[maybe_unused]] const bool installed = [] {
  mamba::installCrashReport("test binary", writeRunningTest);
  return true;
}();

}  // namespace
