// Linked into every test binary (add_gtest): on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT it
// writes the signal, the running test's name and a backtrace to stderr, then re-raises the
// signal with its default action, so ctest still sees the crash. gtest's own output is on
// stdout and is lost in a crash (buffered); stderr is not. Only async-signal-safe calls
// after the first (backtrace() is primed at start-up: its first call may allocate).
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

namespace {

void writeText(const char* s) {
  if (s != nullptr) (void)!write(STDERR_FILENO, s, std::strlen(s));
}

void onCrash(int sig) {
  writeText("\n*** test binary caught signal ");
  writeText(strsignal(sig));  // not async-signal-safe in theory; glibc returns a static table entry
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  if (info != nullptr) {
    writeText(" in ");
    writeText(info->test_suite_name());
    writeText(".");
    writeText(info->name());
  }
  writeText("; backtrace (addr2line -Cfe <binary> <offset> names static frames):\n");
  void* frames[64];
  const int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  signal(sig, SIG_DFL);
  raise(sig);
}

[[maybe_unused]] const bool installed = [] {
  void* warm[1];
  backtrace(warm, 1);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction a {};
    a.sa_handler = onCrash;
    sigemptyset(&a.sa_mask);
    a.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigaction(sig, &a, nullptr);
  }
  return true;
}();

}  // namespace
