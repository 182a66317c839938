#include "tests/common/test_cert.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

#include "tests/common/test_support.h"

namespace mamba::testing {
namespace {

// `name` on $PATH, or empty (runCommand execs a path, not a name).
std::string onPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

}  // namespace

const TestCert& testCert() {
  static TempDir* dir = new TempDir();  // never destroyed: the files outlive every test
  static const TestCert cert = [] {
    TestCert c;
    c.certFile = dir->path() / "cert.pem";
    c.keyFile = dir->path() / "key.pem";
    const std::string openssl = onPath("openssl");
    if (openssl.empty()) {
      c.error = "no openssl on PATH";
      return c;
    }
    auto r = runCommand({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                         "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", c.keyFile.string(), "-out",
                         c.certFile.string()},
                        "", std::chrono::seconds(60));
    if (r.exitCode != 0) {
      c.error = "openssl req failed (" + std::to_string(r.exitCode) + "): " + r.output;
      return c;
    }
    c.certPem = readFile(c.certFile);
    c.keyPem = readFile(c.keyFile);
    return c;
  }();
  return cert;
}

}  // namespace mamba::testing
