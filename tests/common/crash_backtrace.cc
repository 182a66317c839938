// Linked into every test binary (add_gtest): on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT it
// writes the signal, the running test's name, the faulting address and instruction, the code
// addresses on top of the stack (x86-64) and a backtrace to stderr, then re-raises the signal
// with its default action, so ctest still sees the crash. gtest's own output is on stdout and
// is lost in a crash (buffered); stderr is not. backtrace() is primed at start-up (its first
// call may allocate); strsignal and dladdr are not async-signal-safe, acceptable in a process
// that is ending.
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace {

void writeText(const char* s) {
  if (s != nullptr) (void)!write(STDERR_FILENO, s, std::strlen(s));
}

void writeHex(uintptr_t v) {
  char buf[2 + 16 + 1];
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 16; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
  buf[18] = '\0';
  writeText(buf);
}

// "address module+offset symbol" for a code address (dladdr is not async-signal-safe; the
// process is ending anyway).
void writeCodeAddress(uintptr_t a) {
  writeHex(a);
  Dl_info d{};
  if (dladdr(reinterpret_cast<void*>(a), &d) != 0 && d.dli_fname != nullptr) {
    writeText(" ");
    writeText(d.dli_fname);
    writeText("+");
    writeHex(a - reinterpret_cast<uintptr_t>(d.dli_fbase));
    if (d.dli_sname != nullptr) {
      writeText(" ");
      writeText(d.dli_sname);
    }
  }
  writeText("\n");
}

// The faulting address and instruction, and the stack words that point into loaded code: when
// the fault is a call through a bad pointer, the unwinder stops at the signal frame and the
// return address on top of the stack names the caller.
void writeMachineState(const siginfo_t* info, const void* context) {
  writeText("fault address ");
  writeHex(reinterpret_cast<uintptr_t>(info->si_addr));
  writeText("\n");
#if defined(__x86_64__)
  const auto* uc = static_cast<const ucontext_t*>(context);
  const greg_t* r = uc->uc_mcontext.gregs;
  writeText("instruction ");
  writeCodeAddress(static_cast<uintptr_t>(r[REG_RIP]));
  const auto* sp = reinterpret_cast<const uintptr_t*>(r[REG_RSP]);
  writeText("code addresses among the top 64 stack words:\n");
  for (int i = 0; i < 64; ++i) {
    Dl_info d{};
    if (dladdr(reinterpret_cast<void*>(sp[i]), &d) != 0 && d.dli_fname != nullptr) {
      writeText("  ");
      writeCodeAddress(sp[i]);
    }
  }
#else
  (void)context;
#endif
}

void onCrash(int sig, siginfo_t* siginfo, void* context) {
  writeText("\n*** test binary caught signal ");
  writeText(strsignal(sig));
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  if (info != nullptr) {
    writeText(" in ");
    writeText(info->test_suite_name());
    writeText(".");
    writeText(info->name());
  }
  writeText("\n");
  writeMachineState(siginfo, context);
  writeText("backtrace (addr2line -Cfe <binary> <offset> names static frames):\n");
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
    a.sa_sigaction = onCrash;
    sigemptyset(&a.sa_mask);
    a.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigaction(sig, &a, nullptr);
  }
  return true;
}();

}  // namespace
