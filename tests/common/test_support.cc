#include "tests/common/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mamba::testing {
namespace {

std::vector<char*> makeArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Between fork and exec only async-signal-safe calls: open, dup2, prctl, execv, _exit.
pid_t spawn(const std::vector<std::string>& argv, const std::string& stdinPath,
            const std::string& outPath) {
  std::vector<char*> args = makeArgv(argv);
  const char* in = stdinPath.empty() ? "/dev/null" : stdinPath.c_str();
  const char* out = outPath.c_str();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int inFd = open(in, O_RDONLY);
  int outFd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (inFd < 0 || outFd < 0) _exit(127);
  dup2(inFd, 0);
  dup2(outFd, 1);
  dup2(outFd, 2);
  execv(args[0], args.data());
  _exit(127);
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::filesystem::path root = base ? base : "/tmp";
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = root / ("mamba-test-" + std::to_string(getpid()) + "-" +
                             std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory under " + root.string());
}

void removeTree(const std::filesystem::path& path) {
  // Depth first (children before their directory), not following symbolic links.
  auto removeOne = [](const char* p, const struct stat*, int, struct FTW*) {
    ::remove(p);
    return 0;  // go on whatever happened
  };
  ::nftw(path.c_str(), removeOne, 16, FTW_DEPTH | FTW_PHYS);
}

TempDir::~TempDir() { removeTree(path_); }

int freeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult runCommand(const std::vector<std::string>& argv, const std::string& stdinFile,
                         std::chrono::milliseconds timeout) {
  TempDir dir;
  const auto log = dir.path() / "output.txt";
  CommandResult result;
  {
    ChildProcess child(argv, log, stdinFile);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (child.alive() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const int status = child.stop(std::chrono::milliseconds(0));
    result.exitCode = (status >= 0 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  }
  result.output = readFile(log);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& logFile,
                           const std::filesystem::path& stdinFile)
    : pid_(spawn(argv, stdinFile.string(), logFile.string())) {}

ChildProcess::~ChildProcess() { stop(); }

bool ChildProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    pid_ = -1;
    return false;
  }
  return r == 0;
}

bool ChildProcess::sendSignal(int sig) { return alive() && kill(pid_, sig) == 0; }

int ChildProcess::waitExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pid_ > 0 ? -1 : status_;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_;
  if (alive()) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (alive() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      status_ = status;
      pid_ = -1;
    }
  }
  return status_;
}

}  // namespace mamba::testing
