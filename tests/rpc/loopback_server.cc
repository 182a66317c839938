#include "tests/rpc/loopback_server.h"

#include "server/metrics/build_info.h"
#include "server/metrics/process_collector.h"
#include "tests/common/test_cert.h"
#include "tests/rpc/test_model.h"

namespace mamba::rpctest {

LoopbackServer::LoopbackServer(LoopbackOptions options)
    : registry_(std::make_unique<metrics::Registry>()) {
  auto serving = metrics::ServingMetrics::create(*registry_);
  if (!serving.isOk()) {
    status_ = serving.status();
    return;
  }
  serving_ = std::move(serving).value();
  if (options.metrics) {
    if (Status s = metrics::registerProcessCollector(*registry_); !s.isOk()) {
      status_ = s;
      return;
    }
    if (Status s = metrics::registerBuildInfo(*registry_); !s.isOk()) {
      status_ = s;
      return;
    }
    metrics::MetricsServerOptions mo;
    mo.host = "127.0.0.1";
    mo.port = 0;
    metricsServer_ = std::make_unique<metrics::MetricsServer>(*registry_, mo);
    if (Status s = metricsServer_->start(); !s.isOk()) {
      status_ = s;
      return;
    }
  }
  EngineOptions eo;
  eo.scheduler = options.scheduler;
  ModelSpec spec;
  spec.name = kModelName;
  spec.variant = "dense";
  spec.backend.modelDir = tinyModelDir();
  spec.backend.name = kModelName;
  spec.backend.numSlots = options.slots;
  eo.models.push_back(spec);
  auto engine = Engine::create(eo, serving_.get());
  if (!engine.isOk()) {
    status_ = engine.status();
    return;
  }
  engine_ = std::move(engine).value();
  rpc::RpcServerOptions ro;
  ro.listenAddress = "127.0.0.1:0";
  ro.scoreWorkers = options.scoreWorkers;
  ro.defaultModel = kModelName;
  if (options.admin) {
    admin_ = std::make_unique<admin::ModelAdmin>(*engine_);
    ro.admin = admin_.get();
    ro.adminListenAddress = "127.0.0.1:0";
    ro.adminToken = options.adminToken;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    const testing::TestCert& cert = testing::testCert();
    if (!cert.error.empty()) {
      status_ = internalError(cert.error);
      return;
    }
    ro.tlsCertChainPem = cert.certPem;
    ro.tlsPrivateKeyPem = cert.keyPem;
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = cert.certPem;
    credentials = grpc::SslCredentials(ssl);
  }
  auto server = rpc::RpcServer::start(*engine_, ro);
  if (!server.isOk()) {
    status_ = server.status();
    return;
  }
  rpc_ = std::move(server).value();
  auto channel = connectedChannel(address(), credentials);
  if (!channel.isOk()) {
    status_ = channel.status();
    return;
  }
  channel_ = std::move(channel).value();
  if (options.admin) {
    auto adminChannel = connectedChannel(rpc_->adminAddress(), credentials);
    if (!adminChannel.isOk()) {
      status_ = adminChannel.status();
      return;
    }
    adminChannel_ = std::move(adminChannel).value();
  }
}

LoopbackServer::~LoopbackServer() {
  channel_.reset();
  adminChannel_.reset();
  if (rpc_) rpc_->shutdown();
  if (engine_) engine_->shutdown();
  rpc_.reset();
  engine_.reset();
  if (metricsServer_) metricsServer_->stop();
}

StatusOr<std::shared_ptr<grpc::Channel>> connectedChannel(const std::string& address,
                                                          std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto channel = grpc::CreateChannel(address, credentials ? credentials : grpc::InsecureChannelCredentials());
  // A call on a channel whose first connection attempt failed fails at once (UNAVAILABLE,
  // "failed to connect to all addresses"), and a loaded 2-core CI machine has produced such a
  // transient failure on loopback. Tests exercise the server, not connection setup, so their
  // channels are READY before the first call (gRPC retries the connection with backoff).
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    return unavailable("no connection to the loopback server at " + address + " within 30 s");
  }
  return channel;
}

std::shared_ptr<grpc::Channel> LoopbackServer::channel() { return channel_; }

std::unique_ptr<pb::Inference::Stub> LoopbackServer::stub() {
  return pb::Inference::NewStub(channel());
}

std::unique_ptr<pb::Admin::Stub> LoopbackServer::adminStub() {
  return pb::Admin::NewStub(adminChannel_);
}

std::unique_ptr<grpc::health::v1::Health::Stub> LoopbackServer::healthStub() {
  return grpc::health::v1::Health::NewStub(channel());
}

}  // namespace mamba::rpctest
