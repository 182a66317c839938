// Fatal-signal reports: on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT the process writes to
// stderr what crashed (the program's name, the signal and, from the context writer, e.g. the
// running test), the fault address (or the sending process, for a signal sent with kill), on
// x86-64 the faulting instruction and the code addresses on top of the stack (module+offset and
// the symbol where the dynamic symbol table names it; `addr2line -Cfe MODULE OFFSET` names the
// rest), and a backtrace; then it re-raises the signal with its default action, so the exit
// status and any core dump are what they would have been. A call through a bad function
// pointer leaves the backtrace at the signal frame; the stack's code addresses still name the
// caller. Used by mamba-server, mamba-tool, the benchmarks and every test binary.
#pragma once

namespace mamba {

// Called inside the handler to append context to the first line: only async-signal-safe calls
// (write to `fd`), no allocation, no locks.
using CrashContextWriter = void (*)(int fd);

// Installs the handlers, process-wide. `program` must outlive the process (a string literal).
// Call once, early; a later call replaces `program` and `context`.
void installCrashReport(const char* program, CrashContextWriter context = nullptr);

}  // namespace mamba
