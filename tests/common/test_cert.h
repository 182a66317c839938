// A self-signed TLS certificate for 127.0.0.1 and localhost (EC P-256, valid 2 days), made once
// per test process with the openssl command line tool, for the TLS tests of the server.
#pragma once

#include <filesystem>
#include <string>

namespace mamba::testing {

struct TestCert {
  std::string certPem, keyPem;            // empty when openssl failed (error says why)
  std::filesystem::path certFile, keyFile;
  std::string error;
};

// Lives until the process exits.
const TestCert& testCert();

}  // namespace mamba::testing
