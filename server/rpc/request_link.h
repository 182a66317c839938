// The link from a gRPC call to the engine request it submitted, for cancellation: gRPC may
// call OnCancel on any of its threads at any time, before the request is submitted, while it
// runs, or after it ended.
//
// Threading: every method is thread-safe.
#pragma once

#include <memory>
#include <mutex>

#include "server/engine/engine.h"

namespace mamba::rpc {

class RequestLink {
 public:
  // The request was submitted; a cancel() that came earlier is passed on now.
  void attach(std::shared_ptr<RequestHandle> handle);
  // The request ended (the observer's onDone): later cancel() calls do nothing.
  void detach();
  // Cancels the request now, or at attach() when it is not submitted yet.
  void cancel();

 private:
  std::mutex mutex_;
  std::shared_ptr<RequestHandle> handle_;
  bool cancelRequested_ = false;
};

}  // namespace mamba::rpc
