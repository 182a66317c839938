// mamba.serving.v1.Inference on gRPC's callback API. Generate and GenerateStream run in the
// engine (reactors fed by its observers), Score on a small worker pool (engine.score()
// blocks), ListModels inline. While draining, new inference calls get UNAVAILABLE.
#pragma once

#include <string>

#include "mamba/serving/v1/inference.grpc.pb.h"
#include "server/engine/engine.h"
#include "server/rpc/call_tracker.h"
#include "server/rpc/worker_pool.h"

namespace mamba::rpc {

struct InferenceServiceOptions {
  int scoreWorkers = 2;
  size_t maxQueuedScores = 256;    // beyond: RESOURCE_EXHAUSTED
  std::string defaultModel;        // reported by ListModels (empty: the first model)
};

class InferenceService final : public serving::v1::Inference::CallbackService {
 public:
  // `engine` and `tracker` must outlive the service.
  InferenceService(Engine& engine, CallTracker& tracker, InferenceServiceOptions options);
  ~InferenceService() override;

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const serving::v1::GenerateRequest* request,
                                     serving::v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context, const serving::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Score(grpc::CallbackServerContext* context,
                                  const serving::v1::ScoreRequest* request,
                                  serving::v1::ScoreResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const serving::v1::ListModelsRequest* request,
                                       serving::v1::ListModelsResponse* response) override;

  // Finishes the queued Score calls and joins the workers (after the server stopped
  // accepting). Idempotent.
  void stopWorkers();

 private:
  Engine& engine_;
  CallTracker& tracker_;
  InferenceServiceOptions options_;
  WorkerPool scorePool_;
  // Starts GenerateStream writes that the engine's scheduler thread would otherwise start
  // itself (GenerateStreamReactor::pumpFromEngine): gRPC does a write's framing and send on
  // the thread that starts it, ~80 us per token on a 2-core box, which delayed the next step.
  WorkerPool writePool_;
};

}  // namespace mamba::rpc
