#include "client/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "client/cli_error.h"

namespace mamba::client {

namespace {

std::shared_ptr<grpc::ChannelCredentials> channelCredentials(const ConnectOptions& o) {
  if (!o.tls && o.tlsCaFile.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!o.tlsCaFile.empty()) {
    std::ifstream in(o.tlsCaFile, std::ios::binary);
    if (!in) throw CliError("--tls-ca: cannot open '" + o.tlsCaFile + "'");
    std::ostringstream pem;
    pem << in.rdbuf();
    ssl.pem_root_certs = pem.str();
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

std::shared_ptr<grpc::Channel> connectedChannel(const std::string& target, const ConnectOptions& o) {
  auto channel = grpc::CreateChannel(target, channelCredentials(o));
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(o.connectSeconds * 1000));
  if (!channel->WaitForConnected(deadline)) {
    std::ostringstream msg;
    msg << "cannot connect to " << target << " within " << o.connectSeconds << " s (is mamba-server listening there"
        << (o.tls || !o.tlsCaFile.empty() ? ", with TLS and a certificate these roots verify?)"
                                           : "? a TLS server needs --tls or --tls-ca)");
    throw CliError(msg.str());
  }
  return channel;
}

double connectWait(double connectTimeoutSeconds, double callTimeoutSeconds) {
  return callTimeoutSeconds > 0 ? std::min(connectTimeoutSeconds, callTimeoutSeconds) : connectTimeoutSeconds;
}

}  // namespace mamba::client
