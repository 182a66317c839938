// Test helpers shared by the suites (metrics, rpc, ...): temporary directories, free ports,
// child processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mamba::testing {

// Removes `path` and everything under it (symbolic links are removed, not followed), best
// effort: errors are ignored. Tests use this, never std::filesystem::remove_all: libtorch.so
// of the PyPI wheels exports its own copy of remove_all (statically linked from its build
// toolchain's libstdc++), which calls recursive_directory_iterator::__erase through a weak
// reference that the system libstdc++ does not define, so it jumps to address 0. A binary
// that lists libtorch.so before libstdc++ binds to that copy. CMakeLists.txt asks for
// libstdc++ first; that holds on Debian 12, not in the GPU machine's build (SIGSEGV in a
// temporary directory's destructor there, H200, session 18). The `no_filesystem_remove_all`
// test keeps both names out of the sources.
void removeTree(const std::filesystem::path& path);

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int freeTcpPort();

// Writes `text` to `path`, replacing it.
void writeFile(const std::filesystem::path& path, const std::string& text);
std::string readFile(const std::filesystem::path& path);

struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout and stderr together.
};
// Runs `argv` (no shell) with stdin from `stdinFile` (empty: /dev/null) and returns its exit
// code and output. Kills it after `timeout`.
CommandResult runCommand(const std::vector<std::string>& argv, const std::string& stdinFile,
                         std::chrono::milliseconds timeout);

// A child process started with fork/exec, stdout+stderr to `logFile`. The destructor (and
// stop()) sends SIGTERM, waits up to `grace`, then SIGKILLs and reaps it, so the child never
// outlives the test, even when an assertion returns early. The child also gets SIGKILL if
// the test process dies (PR_SET_PDEATHSIG).
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& logFile,
               const std::filesystem::path& stdinFile = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // True while the child has not exited (reaps it if it has).
  bool alive();
  // Returns the exit status as from waitpid, or -1 if it was not started.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Sends `sig` to the child; false if it is not running.
  bool sendSignal(int sig);
  // Waits up to `timeout` for the child to end by itself: its status as from waitpid, or -1
  // if it is still running (or was never started).
  int waitExit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace mamba::testing
