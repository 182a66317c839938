#include "server/common/crash_report.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace mamba {
namespace {

std::atomic<const char*> gProgram{"process"};
std::atomic<CrashContextWriter> gContext{nullptr};

void writeText(const char* s) {
  if (s != nullptr) (void)!write(STDERR_FILENO, s, std::strlen(s));
}

void writeHex(uintptr_t v) {
  char buf[2 + 16 + 1] = {'0', 'x'};
  for (int i = 0; i < 16; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
  writeText(buf);
}

void writeDecimal(long v) {
  char buf[24];
  int i = sizeof buf - 1;
  buf[i] = '\0';
  const bool negative = v < 0;
  unsigned long u = negative ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
  do {
    buf[--i] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0 && i > 1);
  if (negative) buf[--i] = '-';
  writeText(buf + i);
}

// "address module+offset symbol" (dladdr is not async-signal-safe; the process is ending).
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

void writeMachineState(const siginfo_t* info, const void* context) {
  if (info->si_code <= 0) {  // SI_USER, SI_QUEUE, SI_TKILL: sent, not a fault
    writeText("sent by process ");
    writeDecimal(static_cast<long>(info->si_pid));
    writeText("\n");
  } else {
    writeText("fault address ");
    writeHex(reinterpret_cast<uintptr_t>(info->si_addr));
    writeText("\n");
  }
#if defined(__x86_64__)
  const greg_t* r = static_cast<const ucontext_t*>(context)->uc_mcontext.gregs;
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

void onFatalSignal(int sig, siginfo_t* info, void* context) {
  writeText("\n*** ");
  writeText(gProgram.load());
  writeText(" caught signal ");
  writeText(strsignal(sig));  // glibc: a static table entry (not async-signal-safe in theory)
  if (CrashContextWriter c = gContext.load()) c(STDERR_FILENO);
  writeText("\n");
  writeMachineState(info, context);
  writeText("backtrace:\n");
  void* frames[64];
  const int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void installCrashReport(const char* program, CrashContextWriter context) {
  gProgram.store(program != nullptr ? program : "process");
  gContext.store(context);
  void* warm[1];
  backtrace(warm, 1);  // the first call may load libgcc_s and allocate: not in the handler
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction a {};
    a.sa_sigaction = onFatalSignal;
    sigemptyset(&a.sa_mask);
    a.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
    sigaction(sig, &a, nullptr);
  }
}

}  // namespace mamba
