#include "server/rpc/rpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "grpc/health/v1/health.pb.h"
#include "server/common/logging.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/call_tracker.h"
#include "server/rpc/inference_service.h"

namespace mamba::rpc {
namespace {

constexpr const char* kInferenceServiceName = "mamba.serving.v1.Inference";
constexpr const char* kAdminServiceName = "mamba.serving.v1.Admin";

// "host:port" with the port replaced by the bound one.
std::string boundAddress(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return host + ":" + std::to_string(port);
}

struct Listening {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string address;  // "host:port" with the bound port
};

// TLS with the options' certificate and key (no client certificates), else plain text.
std::shared_ptr<grpc::ServerCredentials> serverCredentials(const RpcServerOptions& o) {
  if (o.tlsCertChainPem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({o.tlsPrivateKeyPem, o.tlsCertChainPem});
  return grpc::SslServerCredentials(ssl);
}

// Starts a gRPC server for `service` on `listen` (maxReceiveBytes > 0 sets the message limit);
// UNAVAILABLE naming `what` and the address when it cannot bind (or, with TLS, when gRPC
// refuses the certificate and key).
StatusOr<Listening> startListening(const std::string& listen, grpc::Service* service, int maxReceiveBytes,
                                   const std::string& what, const RpcServerOptions& options) {
  grpc::ServerBuilder builder;
  int selectedPort = 0;
  builder.AddListeningPort(listen, serverCredentials(options), &selectedPort);
  // Two servers on one port would silently share it; fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (maxReceiveBytes > 0) builder.SetMaxReceiveMessageSize(maxReceiveBytes);
  builder.RegisterService(service);
  Listening l;
  l.server = builder.BuildAndStart();
  if (!l.server || selectedPort == 0) {
    return unavailable("cannot listen for " + what + " on " + listen +
                       (options.tlsCertChainPem.empty() ? " (address in use or invalid)"
                                                        : " (address in use or invalid, or TLS certificate and key refused)"));
  }
  l.port = selectedPort;
  l.address = boundAddress(listen, selectedPort);
  return l;
}

}  // namespace

RpcServer::RpcServer(Engine& engine) : engine_(engine), tracker_(std::make_unique<CallTracker>()) {}

StatusOr<std::unique_ptr<RpcServer>> RpcServer::start(Engine& engine, RpcServerOptions options) {
  std::unique_ptr<RpcServer> server(new RpcServer(engine));
  InferenceServiceOptions serviceOptions;
  serviceOptions.scoreWorkers = options.scoreWorkers;
  serviceOptions.maxQueuedScores = options.maxQueuedScores;
  serviceOptions.defaultModel = options.defaultModel;
  server->service_ = std::make_unique<InferenceService>(engine, *server->tracker_, serviceOptions);

  // Reference the health proto so that its descriptor is linked in and reflection can
  // describe grpc.health.v1.Health (served by gRPC's built-in health service).
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  MAMBA_ASSIGN_OR_RETURN(Listening main, startListening(options.listenAddress, server->service_.get(),
                                                        options.maxReceiveMessageBytes, "gRPC", options));
  server->server_ = std::move(main.server);
  server->port_ = main.port;
  server->address_ = std::move(main.address);
  if (auto* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus(kInferenceServiceName, true);
  }
  if (options.admin && !options.adminListenAddress.empty()) {
    MAMBA_RETURN_IF_ERROR(server->startAdmin(options));
  }
  return server;
}

Status RpcServer::startAdmin(const RpcServerOptions& options) {
  adminService_ = std::make_unique<AdminService>(*options.admin, options.adminToken);
  MAMBA_ASSIGN_OR_RETURN(Listening l, startListening(options.adminListenAddress, adminService_.get(), 0,
                                                     "the admin service", options));
  adminServer_ = std::move(l.server);
  adminPort_ = l.port;
  adminAddress_ = std::move(l.address);
  if (auto* health = adminServer_->GetHealthCheckService()) health->SetServingStatus(kAdminServiceName, true);
  return Status::ok();
}

RpcServer::~RpcServer() { shutdown(); }

void RpcServer::beginDrain() {
  if (tracker_->draining()) return;
  tracker_->beginDrain();
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
    health->SetServingStatus(kInferenceServiceName, false);
  }
  engine_.beginDrain();
  MAMBA_LOG(kInfo) << "draining: " << tracker_->active() << " call(s) in flight";
}

bool RpcServer::draining() const { return tracker_->draining(); }

int64_t RpcServer::activeCalls() const { return tracker_->active(); }

bool RpcServer::waitIdle(std::chrono::milliseconds timeout) { return tracker_->waitIdle(timeout); }

void RpcServer::shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(shutdownMutex_);
  if (shutDown_) return;
  shutDown_ = true;
  tracker_->beginDrain();
  if (server_) {
    // Cancels the calls still running after `grace`; their reactors cancel the engine
    // requests, which finish them. Returns once every call is done.
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
  }
  service_->stopWorkers();
  if (adminServer_) {
    adminServer_->Shutdown(std::chrono::system_clock::now() + grace);
    adminServer_->Wait();
  }
  if (adminService_) adminService_->stopWorker();
}

bool RpcServer::drainAndShutdown(std::chrono::milliseconds drainTimeout) {
  beginDrain();
  const bool idle = waitIdle(drainTimeout);
  if (!idle) {
    MAMBA_LOG(kWarning) << "drain timeout: cancelling " << tracker_->active()
                        << " call(s) still in flight";
  }
  shutdown();
  return idle;
}

}  // namespace mamba::rpc
