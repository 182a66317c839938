#include "server/rpc/admin_service.h"

#include <chrono>
#include <functional>

#include "server/rpc/admin_auth.h"
#include "server/rpc/proto_convert.h"
#include "server/rpc/status_mapping.h"

namespace mamba::rpc {
namespace {

admin::LoadRequest loadRequest(const pb::LoadModelRequest& r) {
  admin::LoadRequest l;
  l.model = r.model();
  l.variant = r.variant();
  l.path = r.path();
  if (r.has_dtype()) l.dtype = r.dtype();
  if (r.has_state_dtype()) l.stateDtype = r.state_dtype();
  if (r.has_device()) l.device = r.device();
  if (r.has_slots()) l.slots = r.slots();
  l.tokenizer = r.tokenizer();
  return l;
}

StatusOr<admin::PruneRequest> pruneRequest(const pb::PruneModelRequest& r) {
  admin::PruneRequest p;
  p.model = r.model();
  p.sourceVariant = r.source_variant();
  pruning::PruneJobOptions& j = p.job;
  if (!r.method().empty()) j.method = r.method();
  j.ratio = r.ratio();
  if (!r.mode().empty()) j.mode = r.mode();
  if (!r.variant().empty()) j.variant = r.variant();
  switch (r.scores_case()) {
    case pb::PruneModelRequest::kScoresPath:
      if (r.scores_path().empty()) return invalidArgument("scores_path must not be empty");
      j.scoresPath = r.scores_path();
      break;
    case pb::PruneModelRequest::kCalibration: {
      const pb::CalibrationSpec& c = r.calibration();
      j.calibration.textPath = c.text_path();
      j.calibration.maxTokens = c.max_tokens();
      if (c.context() != 0) j.calibration.context = c.context();
      if (c.batch() != 0) j.calibration.batch = c.batch();
      j.calibration.seed = c.seed();
      if (j.calibration.textPath.empty()) return invalidArgument("calibration.text_path is required");
      break;
    }
    default:
      return invalidArgument("scores: give scores_path or calibration");
  }
  j.outputDir = r.output_dir();
  p.load = !r.has_load() || r.load();
  return p;
}

void loadResponse(const std::string& model, const ModelLoadResult& r, pb::LoadModelResponse* out) {
  out->set_model(model);
  toProto(r.info, out->mutable_loaded());
  out->set_replaced(r.replaced);
  if (r.replaced) toProto(r.previous, out->mutable_previous());
  out->set_load_seconds(r.loadSeconds);
}

void pruneResponse(const std::string& model, const admin::PruneOutcome& o, pb::PruneModelResponse* out) {
  const pruning::PruneJobResult& j = o.job;
  out->set_output_dir(j.outputDir);
  out->set_scores_path(j.scoresPath);
  out->set_corpus_fnv1a64(j.corpusHash);
  out->set_calibration_tokens(j.calibrationTokens);
  out->mutable_state_sizes_before()->Assign(j.stateSizesBefore.begin(), j.stateSizesBefore.end());
  out->mutable_state_sizes()->Assign(j.stateSizes.begin(), j.stateSizes.end());
  out->set_state_bytes_per_sequence_before(j.stateBytesPerSequenceBefore);
  out->set_state_bytes_per_sequence(j.stateBytesPerSequence);
  out->set_parameter_count(j.parameters);
  out->set_calibration_seconds(j.calibrationSeconds);
  out->set_surgery_seconds(j.surgerySeconds);
  if (o.load) loadResponse(model, *o.load, out->mutable_load());
}

// Queues `work` (which returns the call's status after filling the response) on the worker;
// a call whose deadline passed while it waited is not started.
grpc::ServerUnaryReactor* runOnWorker(WorkerPool& worker, grpc::CallbackServerContext* context,
                                      std::function<Status()> work) {
  auto* reactor = context->DefaultReactor();
  const Deadline deadline = steadyDeadline(context->deadline());
  auto task = [reactor, context, deadline, work = std::move(work)] {
    if (context->IsCancelled()) {
      reactor->Finish(toGrpcStatus(cancelled("the call was cancelled before it started")));
    } else if (deadline && std::chrono::steady_clock::now() > *deadline) {
      reactor->Finish(toGrpcStatus(deadlineExceeded("the deadline passed while the call waited for an earlier admin call")));
    } else {
      reactor->Finish(toGrpcStatus(work()));
    }
  };
  if (!worker.trySubmit(std::move(task))) {
    reactor->Finish(toGrpcStatus(resourceExhausted("too many admin calls queued; retry when the running one is done")));
  }
  return reactor;
}

}  // namespace

AdminService::AdminService(admin::ModelAdmin& admin, std::string token)
    : admin_(admin), token_(std::move(token)), worker_(1, kMaxQueuedAdminCalls) {}

grpc::ServerUnaryReactor* AdminService::run(grpc::CallbackServerContext* context, std::function<Status()> work) {
  if (Status s = checkAdminToken(context->client_metadata(), token_); !s.isOk()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(toGrpcStatus(s));
    return reactor;
  }
  return runOnWorker(worker_, context, std::move(work));
}

AdminService::~AdminService() { stopWorker(); }

void AdminService::stopWorker() { worker_.stop(); }

grpc::ServerUnaryReactor* AdminService::LoadModel(grpc::CallbackServerContext* context,
                                                  const serving::v1::LoadModelRequest* request,
                                                  serving::v1::LoadModelResponse* response) {
  return run(context, [this, request, response] {
    auto r = admin_.load(loadRequest(*request));
    if (!r.isOk()) return r.status();
    loadResponse(request->model(), *r, response);
    return Status::ok();
  });
}

grpc::ServerUnaryReactor* AdminService::UnloadModel(grpc::CallbackServerContext* context,
                                                    const serving::v1::UnloadModelRequest* request,
                                                    serving::v1::UnloadModelResponse* /*response*/) {
  return run(context, [this, request] { return admin_.unload(request->model(), request->variant()); });
}

grpc::ServerUnaryReactor* AdminService::PruneModel(grpc::CallbackServerContext* context,
                                                   const serving::v1::PruneModelRequest* request,
                                                   serving::v1::PruneModelResponse* response) {
  return run(context, [this, context, request, response] {
    auto converted = pruneRequest(*request);
    if (!converted.isOk()) return converted.status();
    // The client cancelled, its deadline passed, or the server's shutdown grace ran out (gRPC
    // then cancels the call): the calibration stops within one batch, nothing is loaded.
    converted->job.cancelled = [context, deadline = steadyDeadline(context->deadline())] {
      return context->IsCancelled() || (deadline && std::chrono::steady_clock::now() > *deadline);
    };
    auto r = admin_.prune(std::move(converted).value());
    if (!r.isOk()) return r.status();
    pruneResponse(request->model(), *r, response);
    return Status::ok();
  });
}

}  // namespace mamba::rpc
