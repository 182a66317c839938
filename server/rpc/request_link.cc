#include "server/rpc/request_link.h"

namespace mamba::rpc {

void RequestLink::attach(std::shared_ptr<RequestHandle> handle) {
  bool cancelNow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handle_ = handle;
    cancelNow = cancelRequested_;
  }
  if (cancelNow) handle->cancel();  // outside the lock: cancel() may call back into the engine
}

void RequestLink::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  handle_.reset();
}

void RequestLink::cancel() {
  std::shared_ptr<RequestHandle> handle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelRequested_ = true;
    handle = handle_;
  }
  if (handle) handle->cancel();
}

}  // namespace mamba::rpc
