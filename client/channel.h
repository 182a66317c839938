// The channel of one mamba-cli run, connected before its first call.
//
// Waiting for the connection first (gRPC retries a failed attempt with backoff, 1 s at first)
// gives a server that is not up one clear error naming the target, and retries a spurious
// failure of the first attempt instead of failing the call: Debian 12's gRPC 1.51 can report a
// loopback connect that is only in progress as failed, because it reads errno after other
// calls (grpc/grpc pull 35064, fixed upstream later); a CI run of the admin test met it once.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

namespace mamba::client {

struct ConnectOptions {
  double connectSeconds = 5;  // > 0
  bool tls = false;           // TLS, the server verified against tlsCaFile or the system's roots
  std::string tlsCaFile;      // PEM root certificates (implies tls)
};

// READY channel to `target`, or CliError "cannot connect to TARGET within N s" after
// o.connectSeconds (a TLS handshake that fails, e.g. on an unknown certificate, reads the same:
// gRPC retries it until then).
std::shared_ptr<grpc::Channel> connectedChannel(const std::string& target, const ConnectOptions& o);

// How long a command waits for its connection: --connect-timeout, but no longer than the
// call's own --timeout when that is set (> 0).
double connectWait(double connectTimeoutSeconds, double callTimeoutSeconds);

}  // namespace mamba::client
