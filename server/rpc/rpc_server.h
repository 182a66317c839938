// The gRPC server: the Inference service, the standard grpc.health.v1 health service
// (SERVING while accepting, NOT_SERVING once draining) and server reflection (grpcurl works
// without proto files). With an admin, a second gRPC server on its own address serves the
// Admin service (hot swap, unload, prune), with health and reflection too.
//
// Shutdown sequence (drainAndShutdown): stop admitting (health NOT_SERVING, new inference
// calls UNAVAILABLE, engine.beginDrain()), wait up to the drain timeout for in-flight calls,
// then stop the gRPC server, which cancels what is left (their engine requests are cancelled
// and freed), and join the Score workers. The engine itself is shut down by its owner after.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "server/common/status.h"
#include "server/engine/engine.h"

namespace grpc {
class Server;
}

namespace mamba::admin {
class ModelAdmin;
}

namespace mamba::rpc {

class AdminService;
class CallTracker;
class InferenceService;

struct RpcServerOptions {
  std::string listenAddress = "127.0.0.1:50051";  // port 0 picks a free port
  int scoreWorkers = 2;
  size_t maxQueuedScores = 256;
  std::string defaultModel;                       // reported by ListModels
  int maxReceiveMessageBytes = 64 << 20;
  // The Admin service: served on adminListenAddress (port 0 picks one) when both are set.
  admin::ModelAdmin* admin = nullptr;             // not owned; must outlive the server
  std::string adminListenAddress;
  // Non-empty: every Admin call must carry "authorization: Bearer <adminToken>" metadata, or
  // gets UNAUTHENTICATED (server/rpc/admin_auth.h).
  std::string adminToken;
  // Both set (PEM): the Inference and Admin services accept TLS only; both empty: plain text.
  std::string tlsCertChainPem, tlsPrivateKeyPem;
};

class RpcServer {
 public:
  // Binds and starts serving. UNAVAILABLE naming the address when it cannot bind.
  // `engine` must outlive the server.
  static StatusOr<std::unique_ptr<RpcServer>> start(Engine& engine, RpcServerOptions options);
  ~RpcServer();  // shutdown()
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  int port() const { return port_; }
  // "host:port" with the bound port, for clients.
  const std::string& address() const { return address_; }
  // The Admin service's bound port and "host:port" (0 and empty when it is not served).
  int adminPort() const { return adminPort_; }
  const std::string& adminAddress() const { return adminAddress_; }

  void beginDrain();
  bool draining() const;
  // In-flight calls (accepted and not yet finished).
  int64_t activeCalls() const;
  // Waits until no call is in flight, up to `timeout`; true if none is.
  bool waitIdle(std::chrono::milliseconds timeout);
  // Stops the gRPC server, cancelling calls still in flight (waits at most `grace` for them
  // before cancelling), and joins the Score workers; then stops the admin server (a running
  // admin call is waited for, and a calibration stops within one batch once the grace has
  // passed and gRPC cancels its call). Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));
  // beginDrain(), waitIdle(drainTimeout), shutdown(); true if everything finished in time.
  bool drainAndShutdown(std::chrono::milliseconds drainTimeout);

 private:
  RpcServer(Engine& engine);
  Status startAdmin(const RpcServerOptions& options);

  Engine& engine_;
  std::unique_ptr<CallTracker> tracker_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<AdminService> adminService_;
  std::unique_ptr<grpc::Server> adminServer_;
  int adminPort_ = 0;
  std::string adminAddress_;
  std::mutex shutdownMutex_;
  bool shutDown_ = false;
};

}  // namespace mamba::rpc
