#include "client/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>

#include "client/cli_error.h"

namespace mamba::client {

std::shared_ptr<grpc::Channel> connectedChannel(const std::string& target, double connectSeconds) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(connectSeconds * 1000));
  if (!channel->WaitForConnected(deadline)) {
    std::ostringstream msg;
    msg << "cannot connect to " << target << " within " << connectSeconds
        << " s (is mamba-server listening there?)";
    throw CliError(msg.str());
  }
  return channel;
}

double connectWait(double connectTimeoutSeconds, double callTimeoutSeconds) {
  return callTimeoutSeconds > 0 ? std::min(connectTimeoutSeconds, callTimeoutSeconds) : connectTimeoutSeconds;
}

}  // namespace mamba::client
