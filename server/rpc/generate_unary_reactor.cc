#include "server/rpc/generate_unary_reactor.h"

#include "server/rpc/proto_convert.h"
#include "server/rpc/status_mapping.h"

namespace mamba::rpc {

GenerateUnaryReactor::GenerateUnaryReactor(bool wantLogprobs,
                                           serving::v1::GenerateResponse* response,
                                           CallTracker::Ticket ticket)
    : wantLogprobs_(wantLogprobs), response_(response), ticket_(std::move(ticket)) {}

grpc::ServerUnaryReactor* GenerateUnaryReactor::start(Engine& engine,
                                                      grpc::CallbackServerContext* context,
                                                      const serving::v1::GenerateRequest& request,
                                                      serving::v1::GenerateResponse* response,
                                                      CallTracker::Ticket ticket) {
  std::shared_ptr<GenerateUnaryReactor> reactor(
      new GenerateUnaryReactor(request.logprobs(), response, std::move(ticket)));
  reactor->self_ = reactor;
  auto converted = fromProto(request, steadyDeadline(context->deadline()));
  if (!converted.isOk()) {
    reactor->finishOnce(toGrpcStatus(converted.status()));
    return reactor.get();
  }
  auto handle = engine.submit(std::move(converted).value(), reactor);
  if (!handle.isOk()) {
    reactor->finishOnce(toGrpcStatus(toApiFieldNames(handle.status())));
    return reactor.get();
  }
  reactor->link_.attach(*handle);
  return reactor.get();
}

void GenerateUnaryReactor::finishOnce(const grpc::Status& status) {
  if (finished_.exchange(true)) return;
  Finish(status);
}

void GenerateUnaryReactor::onToken(const TokenEvent& event) {
  // Only the scheduler thread touches the response before Finish.
  if (wantLogprobs_ && !finished_.load()) toProto(event, response_->add_logprobs());
}

void GenerateUnaryReactor::onDone(const GenerateResult& result) {
  link_.detach();
  const Status status = finalStatus(result);
  if (status.isOk() && !finished_.load()) toProto(result, response_);
  finishOnce(toGrpcStatus(status));
}

void GenerateUnaryReactor::OnCancel() {
  link_.cancel();
}

void GenerateUnaryReactor::OnDone() {
  ticket_.release();
  std::shared_ptr<GenerateUnaryReactor> keep = std::move(self_);
}

}  // namespace mamba::rpc
