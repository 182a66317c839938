// Generate (unary): one ServerUnaryReactor per call. The engine's onDone() fills the response
// and finishes the call; OnCancel (client cancel, disconnect, deadline) cancels the engine
// request. Same lifetime scheme as GenerateStreamReactor.
#pragma once

#include <atomic>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "mamba/serving/v1/inference.pb.h"
#include "server/engine/engine.h"
#include "server/rpc/call_tracker.h"
#include "server/rpc/request_link.h"

namespace mamba::rpc {

class GenerateUnaryReactor final : public grpc::ServerUnaryReactor,
                                   public GenerateObserver {
 public:
  // `response` is owned by gRPC and stays valid until OnDone.
  static grpc::ServerUnaryReactor* start(Engine& engine, grpc::CallbackServerContext* context,
                                         const serving::v1::GenerateRequest& request,
                                         serving::v1::GenerateResponse* response,
                                         CallTracker::Ticket ticket);

  void onToken(const TokenEvent& event) override;
  void onDone(const GenerateResult& result) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  GenerateUnaryReactor(bool wantLogprobs, serving::v1::GenerateResponse* response,
                       CallTracker::Ticket ticket);
  void finishOnce(const grpc::Status& status);

  const bool wantLogprobs_;
  serving::v1::GenerateResponse* response_;
  CallTracker::Ticket ticket_;
  std::shared_ptr<GenerateUnaryReactor> self_;  // released in OnDone
  std::atomic<bool> finished_{false};

  RequestLink link_;  // to the engine request, for cancellation
};

}  // namespace mamba::rpc
