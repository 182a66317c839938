#include "server/app/server_runner.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <memory>

#include "server/admin/model_admin.h"
#include "server/common/logging.h"
#include "server/metrics/build_info.h"
#include "server/metrics/metrics_server.h"
#include "server/metrics/process_collector.h"
#include "server/metrics/serving_metrics.h"
#include "server/rpc/rpc_server.h"

namespace mamba::app {
namespace {

using Clock = std::chrono::steady_clock;

sigset_t shutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// The next shutdown signal within `timeout`, or 0.
int waitForSignal(std::chrono::milliseconds timeout) {
  const sigset_t set = shutdownSignals();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  const int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

int fail(const Status& status, const char* what) {
  MAMBA_LOG(kError) << what << ": " << status.toString();
  return 1;
}

}  // namespace

void blockShutdownSignals() {
  sigset_t set = shutdownSignals();
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int runServer(const config::ServerConfig& config) {
  setLogLevel(config.logLevel);
  // Read before anything loads: the file may have changed since the config was validated.
  auto adminTokenOr = config::loadAdminToken(config);
  if (!adminTokenOr.isOk()) return fail(adminTokenOr.status(), "admin");
  const std::string adminToken = std::move(adminTokenOr).value();
  auto tls = config::loadTls(config);
  if (!tls.isOk()) return fail(tls.status(), "grpc.tls");

  metrics::Registry registry;
  auto serving = metrics::ServingMetrics::create(registry);
  if (!serving.isOk()) return fail(serving.status(), "metrics");
  if (Status s = metrics::registerProcessCollector(registry); !s.isOk()) return fail(s, "metrics");
  if (Status s = metrics::registerBuildInfo(registry); !s.isOk()) return fail(s, "metrics");

  std::unique_ptr<metrics::MetricsServer> metricsServer;
  if (config.metricsEnabled) {
    auto hostPort = config::parseHostPort(config.metricsListen);
    if (!hostPort.isOk()) return fail(hostPort.status(), "metrics.listen");
    metrics::MetricsServerOptions options;
    options.host = hostPort->host;
    options.port = hostPort->port;
    metricsServer = std::make_unique<metrics::MetricsServer>(registry, options);
    if (Status s = metricsServer->start(); !s.isOk()) return fail(s, "metrics server");
  }

  const EngineOptions engineOptions = config::toEngineOptions(config);
  for (const ModelSpec& spec : engineOptions.models) {
    MAMBA_LOG(kInfo) << "loading model " << spec.name << " (" << spec.variant << ") from "
                     << spec.backend.modelDir << " on " << spec.backend.device << " as "
                     << spec.backend.dtype;
  }
  const auto loadStart = Clock::now();
  auto engine = Engine::create(engineOptions, serving->get());
  if (!engine.isOk()) return fail(engine.status(), "loading models");
  MAMBA_LOG(kInfo) << "models loaded in "
                   << std::chrono::duration<double>(Clock::now() - loadStart).count() << " s";

  rpc::RpcServerOptions rpcOptions;
  rpcOptions.listenAddress = config.grpcListen;
  rpcOptions.tlsCertChainPem = tls->certChainPem;
  rpcOptions.tlsPrivateKeyPem = tls->privateKeyPem;
  rpcOptions.scoreWorkers = static_cast<int>(config.scoreWorkers);
  rpcOptions.defaultModel = config.defaultModel.empty() ? config.models.front().name
                                                        : config.defaultModel;
  admin::ModelAdmin modelAdmin(**engine);
  if (config.adminEnabled) {
    rpcOptions.admin = &modelAdmin;
    rpcOptions.adminListenAddress = config.adminListen;
    rpcOptions.adminToken = adminToken;
  }
  auto server = rpc::RpcServer::start(**engine, rpcOptions);
  if (!server.isOk()) {
    (*engine)->shutdown();
    return fail(server.status(), "gRPC server");
  }
  MAMBA_LOG(kInfo) << "serving gRPC" << (tls->certChainPem.empty() ? "" : " over TLS") << " on "
                   << (*server)->address() << " (default model " << rpcOptions.defaultModel << ")";
  if (metricsServer) {
    MAMBA_LOG(kInfo) << "metrics on http://" << metricsServer->address() << "/metrics";
  }
  if (!(*server)->adminAddress().empty()) {
    MAMBA_LOG(kInfo) << "admin service (hot swap, prune) on " << (*server)->adminAddress()
                     << (adminToken.empty() ? " (no token required)" : " (bearer token required)");
  }

  int sig = 0;
  while ((sig = waitForSignal(std::chrono::milliseconds(1000))) == 0) {
  }
  const auto drainTimeout = std::chrono::milliseconds(
      static_cast<int64_t>(config.drainTimeoutSeconds * 1000.0));
  MAMBA_LOG(kInfo) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                   << ": draining (timeout " << config.drainTimeoutSeconds << " s)";
  (*server)->beginDrain();
  const auto deadline = Clock::now() + drainTimeout;
  bool idle = false;
  while (!(idle = (*server)->waitIdle(std::chrono::milliseconds(0)))) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      MAMBA_LOG(kWarning) << "drain timeout: cancelling " << (*server)->activeCalls()
                          << " call(s)";
      break;
    }
    if (waitForSignal(std::min(left, std::chrono::milliseconds(50))) != 0) {
      MAMBA_LOG(kWarning) << "second signal: cancelling " << (*server)->activeCalls()
                          << " call(s)";
      break;
    }
  }
  (*server)->shutdown();
  (*engine)->shutdown();
  server->reset();
  engine->reset();
  if (metricsServer) metricsServer->stop();
  MAMBA_LOG(kInfo) << "shut down" << (idle ? " cleanly" : " after cancelling in-flight calls");
  return 0;
}

}  // namespace mamba::app
