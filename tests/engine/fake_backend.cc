#include "tests/engine/fake_backend.h"

#include <algorithm>

namespace mamba::test {

FakeBackend::FakeBackend(int64_t vocab, int64_t numSlots, std::vector<int32_t> eos)
    : used_(static_cast<size_t>(numSlots), false), state_(static_cast<size_t>(numSlots), 0) {
  info_.name = "fake";
  info_.variant = "dense";
  info_.vocabSize = vocab;
  info_.numSlots = numSlots;
  info_.stateBytesPerSequence = 8;
  info_.eosTokenIds = std::move(eos);
}

std::optional<int32_t> FakeBackend::acquireSlot() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      state_[i] = 0;
      return static_cast<int32_t>(i);
    }
  }
  return std::nullopt;
}

void FakeBackend::releaseSlot(int32_t slot) {
  checkSlots(std::span<const int32_t>(&slot, 1));
  used_[static_cast<size_t>(slot)] = false;
}

void FakeBackend::checkSlots(std::span<const int32_t> slots) {
  for (int32_t s : slots) {
    for (const auto& step : startedSlots_) {
      if (std::find(step.begin(), step.end(), s) != step.end()) {
        ++slotViolations_;
        break;
      }
    }
  }
}

int64_t FakeBackend::freeSlots() const {
  return static_cast<int64_t>(std::count(used_.begin(), used_.end(), false));
}

uint64_t FakeBackend::mix(uint64_t state, int32_t token) {
  return (state ^ static_cast<uint64_t>(token + 1)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

int32_t FakeBackend::argmaxOf(uint64_t state) const {
  return static_cast<int32_t>((state >> 29) % static_cast<uint64_t>(info_.vocabSize));
}

void FakeBackend::writeRow(uint64_t state, float* row) const {
  std::fill(row, row + info_.vocabSize, 0.f);
  row[argmaxOf(state)] = 1.f;
}

void FakeBackend::emit(std::span<const uint64_t> states, const RowRequest& request, StepOutputs* out) {
  if (request.rows.empty()) return;
  const size_t v = static_cast<size_t>(info_.vocabSize);
  const size_t greedyVocab = request.greedyVocab > 0 ? static_cast<size_t>(request.greedyVocab) : v;
  std::vector<float> row(v);
  out->greedy.assign(states.size(), GreedyPick{});
  logits_.clear();
  for (size_t i = 0; i < states.size(); ++i) {
    if (request.rows[i] == RowOutput::kNone) continue;
    writeRow(states[i], row.data());
    if (request.rows[i] == RowOutput::kGreedy) {
      out->greedy[i] = greedyPick(std::span<const float>(row).first(greedyVocab));
    } else {
      logits_.insert(logits_.end(), row.begin(), row.end());
    }
  }
  out->logits = logits_;
}

Status FakeBackend::prefill(std::span<const PrefillItem> items, const RowRequest& request, StepOutputs* out) {
  runQueued();
  for (const auto& it : items) checkSlots(std::span<const int32_t>(&it.slot, 1));
  if (failDecode_.exchange(false)) return internalError("injected prefill failure");
  MAMBA_RETURN_IF_ERROR(checkRowRequest(request, items.size(), out));
  std::vector<uint64_t> states;
  for (size_t i = 0; i < items.size(); ++i) {
    uint64_t& s = state_[static_cast<size_t>(items[i].slot)];
    if (!items[i].continueFromState) s = 0;
    for (int32_t t : items[i].tokens) s = mix(s, t);
    states.push_back(s);
  }
  emit(states, request, out);
  return Status::ok();
}

StatusOr<std::vector<ScoredToken>> FakeBackend::prefillScore(const PrefillItem& item,
                                                             std::span<const int32_t> targets) {
  runQueued();
  checkSlots(std::span<const int32_t>(&item.slot, 1));
  uint64_t& s = state_[static_cast<size_t>(item.slot)];
  if (!item.continueFromState) s = 0;
  std::vector<ScoredToken> out;
  for (size_t i = 0; i < item.tokens.size(); ++i) {
    s = mix(s, item.tokens[i]);
    out.push_back({-1.f, argmaxOf(s) == targets[i]});
  }
  return out;
}

Status FakeBackend::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                           const RowRequest& request, StepOutputs* out) {
  runQueued();
  // Unless the base class's decodeStart() runs its step here (which may continue the slots of
  // the step in flight).
  if (!inStart_) checkSlots(slots);
  if (failDecode_.exchange(false)) return internalError("injected decode failure");
  MAMBA_RETURN_IF_ERROR(checkRowRequest(request, tokens.size(), out));
  step(tokens, slots, request, out);
  return Status::ok();
}

void FakeBackend::step(std::span<const int32_t> tokens, std::span<const int32_t> slots, const RowRequest& request,
                       StepOutputs* out) {
  std::vector<uint64_t> states;
  for (size_t b = 0; b < tokens.size(); ++b) {
    uint64_t& s = state_[static_cast<size_t>(slots[b])];
    s = mix(s, tokens[b]);
    states.push_back(s);
  }
  emit(states, request, out);
}

Status FakeBackend::decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                                const RowRequest& request) {
  for (const DecodeInput& in : inputs) previousRowInputs_ += in.previousRow >= 0 ? 1 : 0;
  if (!deferred_) {
    inStart_ = true;
    Status st = ModelBackend::decodeStart(inputs, slots, request);
    inStart_ = false;
    MAMBA_RETURN_IF_ERROR(st);
  } else {
    runQueued();
    MAMBA_RETURN_IF_ERROR(checkDecodeStart(inputs, slots, request, queued_.size(),
                                           queued_.empty() ? std::span<const RowOutput>() : queued_.back().rows));
    Queued q;
    q.inputs.assign(inputs.begin(), inputs.end());
    q.slots.assign(slots.begin(), slots.end());
    q.rows.assign(request.rows.begin(), request.rows.end());
    q.greedyVocab = request.greedyVocab;
    q.fail = failDecode_.exchange(false);
    queued_.push_back(std::move(q));
  }
  startedSlots_.emplace_back(slots.begin(), slots.end());
  maxInFlight_ = std::max<int64_t>(maxInFlight_, static_cast<int64_t>(startedSlots_.size()));
  return Status::ok();
}

void FakeBackend::runQueued() {
  for (size_t i = 0; i < queued_.size(); ++i) {
    Queued& q = queued_[i];
    if (q.ran) continue;
    q.ran = true;
    if (q.fail) {
      q.status = internalError("injected decode failure");
      continue;
    }
    std::vector<int32_t> tokens;
    for (const DecodeInput& in : q.inputs) {
      if (in.previousRow < 0) {
        tokens.push_back(in.token);
      } else {
        // The previous step is still queued: it finishes after this one started.
        const Queued& prev = queued_.at(i - 1);
        tokens.push_back(prev.status.isOk() ? prev.greedy.at(static_cast<size_t>(in.previousRow)).token : 0);
      }
    }
    StepOutputs out;
    step(tokens, q.slots, RowRequest{q.rows, q.greedyVocab}, &out);
    q.greedy = std::move(out.greedy);
    q.logits.assign(out.logits.begin(), out.logits.end());
  }
}

Status FakeBackend::decodeFinish(StepOutputs* out) {
  if (!startedSlots_.empty()) startedSlots_.pop_front();
  if (!deferred_) return ModelBackend::decodeFinish(out);
  runQueued();
  if (queued_.empty()) return failedPrecondition("no decode step is in flight");
  Queued q = std::move(queued_.front());
  queued_.pop_front();
  if (!q.status.isOk()) return q.status;
  if (out) {
    finishedLogits_ = std::move(q.logits);
    out->greedy = std::move(q.greedy);
    out->greedy.resize(q.rows.size());
    out->logits = finishedLogits_;
  }
  return Status::ok();
}

std::vector<int32_t> FakeBackend::expected(std::span<const int32_t> prompt, size_t n, int64_t vocab) {
  FakeBackend b(vocab, 1);
  uint64_t s = 0;
  for (int32_t t : prompt) s = mix(s, t);
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(b.argmaxOf(s));
    s = mix(s, out.back());
  }
  return out;
}

RecordingBackend::RecordingBackend(std::unique_ptr<ModelBackend> inner, bool gated)
    : inner_(std::move(inner)), gated_(gated) {}

void RecordingBackend::record(Call call) {
  std::lock_guard lock(mutex_);
  calls_.push_back(std::move(call));
}

void RecordingBackend::gate() {
  std::unique_lock lock(mutex_);
  if (!gated_) return;
  gated_ = false;
  entered_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return open_; });
}

void RecordingBackend::waitEntered() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return entered_; });
}

void RecordingBackend::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
  cv_.notify_all();
}

Status RecordingBackend::prefill(std::span<const PrefillItem> items, const RowRequest& request, StepOutputs* out) {
  gate();
  Call c{Call::kPrefill, {}, {}, {}, {request.rows.begin(), request.rows.end()}};
  for (const auto& it : items) {
    c.lengths.push_back(it.tokens.size());
    c.slots.push_back(it.slot);
    c.continued.push_back(it.continueFromState);
  }
  record(std::move(c));
  return inner_->prefill(items, request, out);
}

StatusOr<std::vector<ScoredToken>> RecordingBackend::prefillScore(const PrefillItem& item,
                                                                  std::span<const int32_t> targets) {
  gate();
  record(Call{Call::kScore, {item.tokens.size()}, {item.slot}, {item.continueFromState}, {}});
  return inner_->prefillScore(item, targets);
}

Status RecordingBackend::decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                                     const RowRequest& request) {
  record(Call{Call::kDecode, std::vector<size_t>(inputs.size(), 1), std::vector<int32_t>(slots.begin(), slots.end()),
              {}, {request.rows.begin(), request.rows.end()}});
  return inner_->decodeStart(inputs, slots, request);
}

Status RecordingBackend::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                                const RowRequest& request, StepOutputs* out) {
  Call c{Call::kDecode, std::vector<size_t>(tokens.size(), 1), std::vector<int32_t>(slots.begin(), slots.end()), {},
         {request.rows.begin(), request.rows.end()}};
  record(std::move(c));
  return inner_->decode(tokens, slots, request, out);
}

std::vector<RecordingBackend::Call> RecordingBackend::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

}  // namespace mamba::test
