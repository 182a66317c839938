// An in-process mamba-server for the RPC tests: the real Engine on the tiny model, the real
// RpcServer on 127.0.0.1 with a free port (port 0), and optionally the real /metrics
// endpoint; plus real gRPC stubs for it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "mamba/serving/v1/admin.grpc.pb.h"
#include "mamba/serving/v1/inference.grpc.pb.h"
#include "server/admin/model_admin.h"
#include "server/common/status.h"
#include "server/engine/engine.h"
#include "server/metrics/metrics_server.h"
#include "server/metrics/serving_metrics.h"
#include "server/rpc/rpc_server.h"

namespace mamba::rpctest {

namespace pb = ::mamba::serving::v1;

inline constexpr const char* kModelName = "tiny";

struct LoopbackOptions {
  int64_t slots = 8;
  SchedulerOptions scheduler;
  bool metrics = false;  // serve /metrics on a free port
  int scoreWorkers = 2;
  bool admin = false;    // serve the Admin service on a free port
  std::string adminToken;  // required on Admin calls when set
  bool tls = false;        // serve TLS with testing::testCert(); the channels trust it
};

class LoopbackServer {
 public:
  explicit LoopbackServer(LoopbackOptions options = {});
  ~LoopbackServer();  // shuts the RPC server, then the engine, down
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  // OK when everything started; check with ASSERT_TRUE(server.status().isOk()).
  const Status& status() const { return status_; }

  Engine& engine() { return *engine_; }
  rpc::RpcServer& rpc() { return *rpc_; }
  metrics::Registry& registry() { return *registry_; }
  metrics::MetricsServer* metricsServer() { return metricsServer_.get(); }
  const std::string& address() const { return rpc_->address(); }

  // One channel per service, connected (READY) when the constructor returns.
  std::shared_ptr<grpc::Channel> channel();
  std::unique_ptr<pb::Inference::Stub> stub();
  std::unique_ptr<grpc::health::v1::Health::Stub> healthStub();
  // The Admin service (LoopbackOptions::admin).
  std::unique_ptr<pb::Admin::Stub> adminStub();

 private:
  Status status_;
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<metrics::ServingMetrics> serving_;
  std::unique_ptr<metrics::MetricsServer> metricsServer_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<admin::ModelAdmin> admin_;
  std::unique_ptr<rpc::RpcServer> rpc_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<grpc::Channel> adminChannel_;
};

// A channel to `address` with `credentials` (plain text when null) that has connected, or
// UNAVAILABLE after 30 s.
StatusOr<std::shared_ptr<grpc::Channel>> connectedChannel(
    const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// The value of one series (name{labels}) in the registry's text exposition; -1 if absent.
inline double counterValue(metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.exposeText();
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

// mamba_requests_total of the test model (dense variant) for one status code name.
inline std::string requestsTotal(const char* status) {
  return std::string("mamba_requests_total{model=\"") + kModelName + "\",variant=\"dense\",status=\"" + status + "\"}";
}

}  // namespace mamba::rpctest
