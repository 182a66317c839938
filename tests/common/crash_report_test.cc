// server/common/crash_report: what a fatal signal writes before the process ends (in this
// binary through tests/common/crash_backtrace.cc, which names the running test). The fault
// case (a null store: fault address, faulting instruction) is in test_support_test.cc.
#include "server/common/crash_report.h"

#include <signal.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace mamba {
namespace {

TEST(CrashReportDeathTest, ASentSignalNamesTheSenderNotAFaultAddress) {
  EXPECT_DEATH(raise(SIGBUS),
               "\\*\\*\\* test binary caught signal Bus error in CrashReportDeathTest\\."
               "ASentSignalNamesTheSenderNotAFaultAddress\nsent by process [0-9]+\n(.|\n)*backtrace:\n");
}

TEST(CrashReportDeathTest, AbortIsReportedAndStillAborts) {
  EXPECT_EXIT(std::abort(), ::testing::KilledBySignal(SIGABRT), "caught signal Aborted(.|\n)*backtrace:\n");
}

TEST(CrashReportDeathTest, TheProgramNameLeadsTheReport) {
  EXPECT_DEATH(
      {
        installCrashReport("mamba-something");
        raise(SIGILL);
      },
      "\\*\\*\\* mamba-something caught signal Illegal instruction\nsent by process");
}

}  // namespace
}  // namespace mamba
