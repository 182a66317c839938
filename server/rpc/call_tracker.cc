#include "server/rpc/call_tracker.h"

namespace mamba::rpc {

CallTracker::Ticket& CallTracker::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    tracker_ = other.tracker_;
    other.tracker_ = nullptr;
  }
  return *this;
}

void CallTracker::Ticket::release() {
  if (tracker_ != nullptr) tracker_->leave();
  tracker_ = nullptr;
}

std::optional<CallTracker::Ticket> CallTracker::enter() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (draining_) return std::nullopt;
  ++active_;
  return Ticket(this);
}

void CallTracker::leave() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--active_ == 0) idle_.notify_all();
}

void CallTracker::beginDrain() {
  std::lock_guard<std::mutex> lock(mutex_);
  draining_ = true;
}

bool CallTracker::draining() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return draining_;
}

int64_t CallTracker::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

bool CallTracker::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return active_ == 0; });
}

}  // namespace mamba::rpc
