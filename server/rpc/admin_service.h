// mamba.serving.v1.Admin on gRPC's callback API: LoadModel, UnloadModel and PruneModel run the
// ModelAdmin operations on one worker thread of their own (they block for seconds to minutes:
// loading a checkpoint, calibrating), never on gRPC's callback threads. At most
// kMaxQueuedAdminCalls wait behind the running one; beyond: RESOURCE_EXHAUSTED. With a token,
// a call without it is refused (UNAUTHENTICATED) before it is queued (server/rpc/admin_auth.h).
#pragma once

#include <functional>
#include <string>

#include "mamba/serving/v1/admin.grpc.pb.h"
#include "server/admin/model_admin.h"
#include "server/rpc/worker_pool.h"

namespace mamba::rpc {

class AdminService final : public serving::v1::Admin::CallbackService {
 public:
  static constexpr size_t kMaxQueuedAdminCalls = 4;

  // `admin` must outlive the service. An empty `token` requires none.
  AdminService(admin::ModelAdmin& admin, std::string token);
  ~AdminService() override;

  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context,
                                      const serving::v1::LoadModelRequest* request,
                                      serving::v1::LoadModelResponse* response) override;
  grpc::ServerUnaryReactor* UnloadModel(grpc::CallbackServerContext* context,
                                        const serving::v1::UnloadModelRequest* request,
                                        serving::v1::UnloadModelResponse* response) override;
  grpc::ServerUnaryReactor* PruneModel(grpc::CallbackServerContext* context,
                                       const serving::v1::PruneModelRequest* request,
                                       serving::v1::PruneModelResponse* response) override;

  // Runs the queued calls, then joins the worker (after the server stopped accepting).
  // Idempotent.
  void stopWorker();

 private:
  // Authenticates, then queues `work` (see admin_service.cc).
  grpc::ServerUnaryReactor* run(grpc::CallbackServerContext* context, std::function<Status()> work);

  admin::ModelAdmin& admin_;
  const std::string token_;
  WorkerPool worker_;
};

}  // namespace mamba::rpc
