#include "server/rpc/generate_stream_reactor.h"

#include "server/common/logging.h"
#include "server/rpc/proto_convert.h"
#include "server/rpc/status_mapping.h"

namespace mamba::rpc {

GenerateStreamReactor::GenerateStreamReactor(bool wantLogprobs, CallTracker::Ticket ticket)
    : wantLogprobs_(wantLogprobs), ticket_(std::move(ticket)) {}

grpc::ServerWriteReactor<serving::v1::GenerateStreamResponse>* GenerateStreamReactor::start(
    Engine& engine, grpc::CallbackServerContext* context,
    const serving::v1::GenerateRequest& request, CallTracker::Ticket ticket, WorkerPool* writer) {
  std::shared_ptr<GenerateStreamReactor> reactor(
      new GenerateStreamReactor(request.logprobs(), std::move(ticket)));
  reactor->self_ = reactor;
  reactor->writer_ = writer;
  auto converted = fromProto(request, steadyDeadline(context->deadline()));
  if (!converted.isOk()) {
    reactor->finishNow(converted.status());
    return reactor.get();
  }
  auto handle = engine.submit(std::move(converted).value(), reactor);
  if (!handle.isOk()) {
    reactor->finishNow(toApiFieldNames(handle.status()));
    return reactor.get();
  }
  reactor->link_.attach(*handle);
  return reactor.get();
}

void GenerateStreamReactor::finishNow(const Status& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  Finish(toGrpcStatus(status));
}

void GenerateStreamReactor::onToken(const TokenEvent& event) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_ || broken_) return;
    if (pending_.empty() || pending_.back().token_ids_size() >= kMaxTokensPerChunk) {
      pending_.emplace_back();
    }
    serving::v1::GenerateChunk& chunk = pending_.back();
    chunk.add_token_ids(event.token);
    chunk.mutable_text()->append(event.textDelta);
    if (wantLogprobs_) toProto(event, chunk.add_logprobs());
  }
  pumpFromEngine();
}

void GenerateStreamReactor::onDone(const GenerateResult& result) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = result;
  }
  link_.detach();
  pumpFromEngine();
}

void GenerateStreamReactor::pumpFromEngine() {
  std::shared_ptr<GenerateStreamReactor> self;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A write in flight pumps from OnWriteDone; a queued task pumps anyway.
    if (finished_ || writing_ || pumpQueued_) return;
    if (writer_ != nullptr) {
      self = self_;
      pumpQueued_ = self != nullptr;
    }
  }
  if (self != nullptr) {
    auto task = [self] {
      {
        std::lock_guard<std::mutex> lock(self->mutex_);
        self->pumpQueued_ = false;
      }
      self->pump();
    };
    if (writer_->trySubmit(std::move(task))) return;
    std::lock_guard<std::mutex> lock(mutex_);
    pumpQueued_ = false;
  }
  pump();
}

GenerateStreamReactor::Action GenerateStreamReactor::nextActionLocked() {
  if (finished_ || writing_) return Action::kNone;
  if (!pending_.empty() && !broken_) {
    writeBuffer_.Clear();
    writeBuffer_.mutable_chunk()->Swap(&pending_.front());
    pending_.pop_front();
    writing_ = true;
    return Action::kWrite;
  }
  if (!result_) return Action::kNone;
  finished_ = true;
  const Status status = finalStatus(*result_);
  if (status.isOk() && !broken_) {
    writeBuffer_.Clear();
    toProto(*result_, writeBuffer_.mutable_final());
    finishStatus_ = grpc::Status::OK;
    return Action::kWriteAndFinish;
  }
  finishStatus_ = toGrpcStatus(status.isOk() ? cancelled("client went away") : status);
  return Action::kFinish;
}

void GenerateStreamReactor::perform(Action action) {
  switch (action) {
    case Action::kNone:
      return;
    case Action::kWrite:
      StartWrite(&writeBuffer_);
      return;
    case Action::kWriteAndFinish:
      StartWriteAndFinish(&writeBuffer_, grpc::WriteOptions(), finishStatus_);
      return;
    case Action::kFinish:
      Finish(finishStatus_);
      return;
  }
}

void GenerateStreamReactor::pump() {
  Action action;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    action = nextActionLocked();
  }
  perform(action);
}

void GenerateStreamReactor::OnWriteDone(bool ok) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    writing_ = false;
    if (!ok && !broken_) {
      broken_ = true;
      pending_.clear();
      cancel = true;
    }
  }
  if (cancel) link_.cancel();
  pump();
}

void GenerateStreamReactor::OnCancel() {
  MAMBA_LOG(kDebug) << "GenerateStream cancelled by the client";
  link_.cancel();
}

void GenerateStreamReactor::OnDone() {
  ticket_.release();
  std::shared_ptr<GenerateStreamReactor> keep;
  {
    std::lock_guard<std::mutex> lock(mutex_);  // pumpFromEngine copies self_ under it
    keep = std::move(self_);
  }
  // `keep` may be the last reference: `this` is destroyed when it goes out of scope.
}

}  // namespace mamba::rpc
