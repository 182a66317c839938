// GenerateStream: one ServerWriteReactor per call, fed by the engine's observer.
//
// The engine calls onToken()/onDone() on its scheduler thread; they only append to a pending
// chunk under a mutex and, when no write is in flight, have one started on the service's
// writer thread: gRPC frames and sends a message on the thread that starts it (~80 us per
// token on a 2-core box), time the scheduler's next step would otherwise wait for. So they
// never block on the network or on gRPC. Tokens that arrive while a write is in flight are
// coalesced into the next chunk, so a slow reader gets fewer, larger chunks instead of
// stalling the scheduler; a chunk holds at most kMaxTokensPerChunk tokens, so that no message
// outgrows a client's receive limit. The last message is the GenerateFinal (written together
// with Finish), or the call finishes with the mapped error status. OnCancel (client cancel,
// disconnect, deadline) cancels the engine request, whose slot is then freed at the next
// scheduler step.
//
// Lifetime: the reactor is shared by gRPC (until OnDone) and the engine (until it drops the
// observer); a self-reference held until OnDone keeps it alive for gRPC.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "mamba/serving/v1/inference.pb.h"
#include "server/engine/engine.h"
#include "server/rpc/call_tracker.h"
#include "server/rpc/request_link.h"
#include "server/rpc/worker_pool.h"

namespace mamba::rpc {

class GenerateStreamReactor final
    : public grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse>,
      public GenerateObserver {
 public:
  static constexpr int kMaxTokensPerChunk = 256;

  // Converts and submits the request; on any error the call finishes at once with it.
  // `writer` (optional; it must outlive the call's Finish, after which it is never touched)
  // starts the writes the engine's thread would start; without it, or once it is stopped and
  // refuses tasks, that thread starts them itself.
  static grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse>* start(
      Engine& engine, grpc::CallbackServerContext* context,
      const serving::v1::GenerateRequest& request, CallTracker::Ticket ticket, WorkerPool* writer = nullptr);

  // GenerateObserver (scheduler thread).
  void onToken(const TokenEvent& event) override;
  void onDone(const GenerateResult& result) override;

  // ServerWriteReactor (gRPC threads).
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  GenerateStreamReactor(bool wantLogprobs, CallTracker::Ticket ticket);
  // Under mutex_: decides the next operation; performed by perform() outside the lock.
  enum class Action { kNone, kWrite, kWriteAndFinish, kFinish };
  Action nextActionLocked();
  void perform(Action action);
  void pump();
  // pump() from an engine thread: on `writer_` when a write may start, else inline.
  void pumpFromEngine();
  void finishNow(const Status& status);

  const bool wantLogprobs_;
  CallTracker::Ticket ticket_;
  std::shared_ptr<GenerateStreamReactor> self_;  // released in OnDone

  RequestLink link_;  // to the engine request, for cancellation
  std::mutex mutex_;
  std::deque<serving::v1::GenerateChunk> pending_;  // not yet written, oldest first
  std::optional<GenerateResult> result_;
  bool writing_ = false;
  bool broken_ = false;      // a write failed: the client is gone
  bool finished_ = false;    // Finish (or StartWriteAndFinish) was called
  bool pumpQueued_ = false;  // a pumpFromEngine task is waiting on writer_
  WorkerPool* writer_ = nullptr;
  serving::v1::GenerateStreamResponse writeBuffer_;  // owned by the write in flight
  grpc::Status finishStatus_;
};

}  // namespace mamba::rpc
