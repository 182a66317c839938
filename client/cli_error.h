// Errors of mamba-cli: a CliError carries the message printed before exiting 1; gRPC errors
// are shown as "CODE: message" with the canonical code names.
#pragma once

#include <grpcpp/support/status.h>

#include <stdexcept>
#include <string>

namespace mamba::client {

class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "INVALID_ARGUMENT", "UNAVAILABLE", ...
const char* grpcCodeName(grpc::StatusCode code);
// "INVALID_ARGUMENT: sampling.top_p must be in (0, 1], got 1.5".
std::string describe(const grpc::Status& status);

}  // namespace mamba::client
