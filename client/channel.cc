#include "client/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <sstream>

#include "client/call_deadline.h"
#include "client/cli_error.h"
#include "client/flag_file.h"

namespace mamba::client {

namespace {

std::shared_ptr<grpc::ChannelCredentials> channelCredentials(const ConnectOptions& o) {
  if (!o.tls && o.tlsCaFile.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!o.tlsCaFile.empty()) ssl.pem_root_certs = readFlagFile(o.tlsCaFile, "--tls-ca");
  return grpc::SslCredentials(ssl);
}

}  // namespace

std::shared_ptr<grpc::Channel> connectedChannel(const std::string& target, const ConnectOptions& o) {
  auto channel = grpc::CreateChannel(target, channelCredentials(o));
  if (!channel->WaitForConnected(deadlineAfter(o.connectSeconds))) {
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
