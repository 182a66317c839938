// Test backends for the scheduler: a deterministic torch-free fake model, and a wrapper that
// records every call of any backend and can hold the first prefill at a gate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
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

  // The next decode()/prefill() fails with INTERNAL.
  void failNextDecode() { failDecode_ = true; }

  // Greedy tokens for `prompt` (what a correct scheduler must produce), n of them.
  static std::vector<int32_t> expected(std::span<const int32_t> prompt, size_t n, int64_t vocab);

 private:
  static uint64_t mix(uint64_t state, int32_t token);
  int32_t argmaxOf(uint64_t state) const;
  void writeRow(uint64_t state, float* row) const;
  // Fills `out` for rows whose states are `states`, as `request` asks.
  void emit(std::span<const uint64_t> states, const RowRequest& request, StepOutputs* out);

  ModelInfo info_;
  std::vector<float> logits_;  // the kLogits rows of the last call
  std::vector<bool> used_;
  std::vector<uint64_t> state_;
  std::atomic<bool> failDecode_{false};
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
