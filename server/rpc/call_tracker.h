// Admission gate and in-flight count for RPCs: every inference call holds a Ticket from
// accept to completion, so that a drain can stop admitting and wait for what is running,
// whatever the engine counts as running (a Score waiting for a worker included).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

namespace mamba::rpc {

class CallTracker {
 public:
  // Held for the life of one call; releases it on destruction. Move-only.
  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(CallTracker* tracker) : tracker_(tracker) {}
    Ticket(Ticket&& other) noexcept : tracker_(other.tracker_) { other.tracker_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    void release();

   private:
    CallTracker* tracker_ = nullptr;
  };

  // A ticket, or nullopt while draining.
  std::optional<Ticket> enter();
  void beginDrain();
  bool draining() const;
  int64_t active() const;
  // Until no call is active or the timeout passes; true if none is active.
  bool waitIdle(std::chrono::milliseconds timeout);

 private:
  void leave();

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  bool draining_ = false;
  int64_t active_ = 0;
};

}  // namespace mamba::rpc
