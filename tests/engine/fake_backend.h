// Test backends for the scheduler: a deterministic torch-free fake model, and a wrapper that
// records every call of any backend and can hold the first prefill at a gate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "server/engine/model_backend.h"

namespace mamba::test {

// A "model" whose state is a hash of the sequence so far and whose logits put 1.0 on one
// token derived from it (0 elsewhere): greedy decoding is a pure function of the history, so
// any batching bug shows up as a different token. prefillScore reports logprob -1 per token.
// kGreedy rows are greedyPick() of the row (this "device" is the host); kLogits rows are
// compacted as the interface says.
//
// Two-phase decode: the base class's (decode() inside decodeStart()), or with
// setDeferredDecode(true) that of an asynchronous device: decodeStart() only queues the step,
// queued steps run in order at the next call on the backend (stream order; a step's
// previousRow rows read the previous step's picks then), and decodeFinish() hands out a step's
// outputs; failNextDecode() then fails the next step at its decodeFinish(). Either way the
// fake checks the contract: slotViolations() counts the calls that touched (released,
// prefilled, decoded) a slot of a started, unfinished step.
class FakeBackend final : public ModelBackend {
 public:
  FakeBackend(int64_t vocab, int64_t numSlots, std::vector<int32_t> eos = {});

  const ModelInfo& info() const override { return info_; }
  std::optional<int32_t> acquireSlot() override;
  void releaseSlot(int32_t slot) override;
  int64_t freeSlots() const override;
  Status prefill(std::span<const PrefillItem> items, const RowRequest& request, StepOutputs* out) override;
  StatusOr<std::vector<ScoredToken>> prefillScore(const PrefillItem& item, std::span<const int32_t> targets) override;
  Status decode(std::span<const int32_t> tokens, std::span<const int32_t> slots, const RowRequest& request,
                StepOutputs* out) override;
  Status decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                     const RowRequest& request) override;
  Status decodeFinish(StepOutputs* out) override;

  // The next decode()/prefill() fails with INTERNAL (deferred: the next step, at its finish).
  void failNextDecode() { failDecode_ = true; }
  // Call before the backend is used.
  void setDeferredDecode(bool deferred) { deferred_ = deferred; }

  // Observations of the two-phase decode (any thread).
  int64_t slotViolations() const { return slotViolations_; }
  int64_t maxInFlight() const { return maxInFlight_; }
  int64_t previousRowInputs() const { return previousRowInputs_; }  // rows fed from the previous step

  // Greedy tokens for `prompt` (what a correct scheduler must produce), n of them.
  static std::vector<int32_t> expected(std::span<const int32_t> prompt, size_t n, int64_t vocab);

 private:
  static uint64_t mix(uint64_t state, int32_t token);
  int32_t argmaxOf(uint64_t state) const;
  void writeRow(uint64_t state, float* row) const;
  // Fills `out` for rows whose states are `states`, as `request` asks.
  void emit(std::span<const uint64_t> states, const RowRequest& request, StepOutputs* out);

  // Advances the slots by one token each and emits the rows (decode()'s work).
  void step(std::span<const int32_t> tokens, std::span<const int32_t> slots, const RowRequest& request,
            StepOutputs* out);
  // Counts a violation for each of `slots` that a started, unfinished step advances.
  void checkSlots(std::span<const int32_t> slots);
  // Deferred mode: runs the queued steps that have not run yet, in order.
  void runQueued();

  struct Queued {
    std::vector<DecodeInput> inputs;
    std::vector<int32_t> slots;
    std::vector<RowOutput> rows;
    int32_t greedyVocab = 0;
    bool fail = false, ran = false;
    Status status;
    std::vector<GreedyPick> greedy;
    std::vector<float> logits;
  };

  ModelInfo info_;
  std::vector<float> logits_;  // the kLogits rows of the last call
  std::vector<bool> used_;
  std::vector<uint64_t> state_;
  std::atomic<bool> failDecode_{false};
  bool deferred_ = false;
  bool inStart_ = false;  // the base class's decodeStart() is calling decode()
  std::deque<Queued> queued_;                     // deferred steps in flight, oldest first
  std::deque<std::vector<int32_t>> startedSlots_;  // slots of the steps in flight (either mode)
  std::vector<float> finishedLogits_;
  std::atomic<int64_t> slotViolations_{0}, maxInFlight_{0}, previousRowInputs_{0};
};

// Forwards to `inner`, logging each call; optionally blocks the first prefill/prefillScore
// until open() is called.
class RecordingBackend final : public ModelBackend {
 public:
  struct Call {
    enum Kind { kPrefill, kScore, kDecode } kind;
    std::vector<size_t> lengths;  // tokens per item (1 per sequence for decode)
    std::vector<int32_t> slots;
    std::vector<bool> continued;  // continueFromState per item (prefill/score)
    std::vector<RowOutput> rows;  // the outputs asked for (prefill/decode)
  };

  RecordingBackend(std::unique_ptr<ModelBackend> inner, bool gated);

  const ModelInfo& info() const override { return inner_->info(); }
  std::optional<int32_t> acquireSlot() override { return inner_->acquireSlot(); }
  void releaseSlot(int32_t slot) override { inner_->releaseSlot(slot); }
  int64_t freeSlots() const override { return inner_->freeSlots(); }
  Status prefill(std::span<const PrefillItem> items, const RowRequest& request, StepOutputs* out) override;
  StatusOr<std::vector<ScoredToken>> prefillScore(const PrefillItem& item, std::span<const int32_t> targets) override;
  Status decode(std::span<const int32_t> tokens, std::span<const int32_t> slots, const RowRequest& request,
                StepOutputs* out) override;
  // Recorded as kDecode calls; forwarded to the inner backend's two phases.
  Status decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                     const RowRequest& request) override;
  Status decodeFinish(StepOutputs* out) override { return inner_->decodeFinish(out); }

  std::vector<Call> calls() const;
  ModelBackend& inner() { return *inner_; }
  // Blocks until the gated call has been entered (it is then waiting for open()).
  void waitEntered();
  void open();

 private:
  void record(Call call);
  void gate();

  std::unique_ptr<ModelBackend> inner_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Call> calls_;
  bool gated_, entered_ = false, open_ = false;
};

}  // namespace mamba::test
