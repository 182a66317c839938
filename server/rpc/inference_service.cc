#include "server/rpc/inference_service.h"

#include <memory>

#include "server/rpc/generate_stream_reactor.h"
#include "server/rpc/generate_unary_reactor.h"
#include "server/rpc/proto_convert.h"
#include "server/rpc/status_mapping.h"

namespace mamba::rpc {
namespace {

const Status& drainingStatus() {
  static const Status status = unavailable("server is draining (shutting down); retry elsewhere");
  return status;
}

}  // namespace

InferenceService::InferenceService(Engine& engine, CallTracker& tracker,
                                   InferenceServiceOptions options)
    : engine_(engine),
      tracker_(tracker),
      options_(std::move(options)),
      scorePool_(options_.scoreWorkers, options_.maxQueuedScores),
      writePool_(1, size_t{1} << 20) {}

InferenceService::~InferenceService() { stopWorkers(); }

void InferenceService::stopWorkers() {
  scorePool_.stop();
  writePool_.stop();  // later writes start on the engine's thread again
}

grpc::ServerUnaryReactor* InferenceService::Generate(grpc::CallbackServerContext* context,
                                                     const serving::v1::GenerateRequest* request,
                                                     serving::v1::GenerateResponse* response) {
  auto ticket = tracker_.enter();
  if (!ticket) {
    engine_.countRefused(request->model(), request->variant(), drainingStatus());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(toGrpcStatus(drainingStatus()));
    return reactor;
  }
  return GenerateUnaryReactor::start(engine_, context, *request, response, std::move(*ticket));
}

grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse>* InferenceService::GenerateStream(
    grpc::CallbackServerContext* context, const serving::v1::GenerateRequest* request) {
  auto ticket = tracker_.enter();
  if (!ticket) {
    struct Rejected : grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse> {
      explicit Rejected(const grpc::Status& s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    engine_.countRefused(request->model(), request->variant(), drainingStatus());
    return new Rejected(toGrpcStatus(drainingStatus()));
  }
  return GenerateStreamReactor::start(engine_, context, *request, std::move(*ticket), &writePool_);
}

grpc::ServerUnaryReactor* InferenceService::Score(grpc::CallbackServerContext* context,
                                                  const serving::v1::ScoreRequest* request,
                                                  serving::v1::ScoreResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto ticket = tracker_.enter();
  if (!ticket) {
    engine_.countRefused(request->model(), request->variant(), drainingStatus());
    reactor->Finish(toGrpcStatus(drainingStatus()));
    return reactor;
  }
  auto converted = fromProto(*request, steadyDeadline(context->deadline()));
  if (!converted.isOk()) {
    reactor->Finish(toGrpcStatus(converted.status()));
    return reactor;
  }
  // The ticket travels with the task and is released once the call is finished.
  auto shared = std::make_shared<CallTracker::Ticket>(std::move(*ticket));
  auto task = [this, reactor, response, shared,
               scoreRequest = std::move(converted).value()]() mutable {
    auto result = engine_.score(scoreRequest);
    if (result.isOk()) toProto(*result, response);
    reactor->Finish(toGrpcStatus(result.isOk() ? Status::ok() : result.status()));
    shared->release();
  };
  if (!scorePool_.trySubmit(std::move(task))) {
    reactor->Finish(toGrpcStatus(resourceExhausted("too many Score calls queued; retry later")));
  }
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ListModels(
    grpc::CallbackServerContext* context, const serving::v1::ListModelsRequest* /*request*/,
    serving::v1::ListModelsResponse* response) {
  toProto(engine_.listModels(), options_.defaultModel, response);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace mamba::rpc
