// A Score request inside the scheduler: one ScoreJob (the caller blocks on it) with one item
// per continuation; each item becomes a ScoreSequence in its own state slot and is prefilled
// chunk by chunk under the same per-iteration token budget as generation prompts.
//
// Semantics (lm-evaluation-harness loglikelihood): an item's tokens are context ++
// continuation; its score is the sum over the continuation tokens t_i of log p(t_i | all
// tokens before it), and isGreedy is whether every t_i was the argmax.
//
// Threading: ScoreJob is shared by the waiting caller and the scheduler thread (its own
// mutex); a ScoreSequence belongs to the scheduler thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "server/common/status.h"
#include "server/engine/engine.h"

namespace mamba {

class ScoreJob {
 public:
  using Clock = std::chrono::steady_clock;

  struct Item {
    std::vector<int32_t> tokens;  // context ++ continuation, >= 2 ids
    size_t contextLen = 0;        // >= 1
    int64_t numBytes = 0;         // UTF-8 bytes of the continuation text
  };

  ScoreJob(std::vector<Item> items, std::optional<Clock::time_point> deadline);

  const std::vector<Item>& items() const { return items_; }
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }
  Clock::time_point submitted() const { return submitted_; }

  // Records item `index`'s score. The job completes when every item has one. Returns true
  // if this call completed the job.
  bool complete(size_t index, const ContinuationScore& score);
  // Ends the job with an error (the first one wins); later results are ignored. Returns
  // true if this call ended the job.
  bool fail(Status status);
  // True once the job completed or failed: its remaining items can be dropped.
  bool done() const;

  // Blocks until the job completes or fails.
  StatusOr<std::vector<ContinuationScore>> wait();

 private:
  std::vector<Item> items_;
  std::optional<Clock::time_point> deadline_;
  Clock::time_point submitted_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ContinuationScore> scores_;
  size_t remaining_;
  Status status_;
  bool done_ = false;
};

// The scheduler-side progress of one item. Inputs are tokens[0..n-2] (the last token is
// only ever a target); positions before contextLen-1 are prefilled without logits, the rest
// with prefillScore() against targets tokens[1..n-1].
class ScoreSequence {
 public:
  ScoreSequence(std::shared_ptr<ScoreJob> job, size_t index, int32_t slot);

  ScoreJob& job() const { return *job_; }
  int32_t slot() const { return slot_; }

  struct Chunk {
    PrefillItem item;                  // inputs, slot, continueFromState
    std::span<const int32_t> targets;  // empty => plain prefill (context only)
  };
  // The next chunk of at most maxTokens (>= 1) inputs. Never spans the context/continuation
  // boundary, so a chunk is either all plain prefill or all scored.
  Chunk nextChunk(size_t maxTokens) const;
  size_t remaining() const { return inputs() - pos_; }
  bool finished() const { return pos_ >= inputs(); }
  // Records a processed chunk (`scored` empty for a plain one). When that finishes the item,
  // hands its score to the job; returns true if that completed the whole job.
  bool accept(const Chunk& chunk, std::span<const ScoredToken> scored);

 private:
  size_t inputs() const { return job_->items()[index_].tokens.size() - 1; }

  std::shared_ptr<ScoreJob> job_;
  size_t index_;
  int32_t slot_;
  size_t pos_ = 0;
  double logprob_ = 0;
  bool greedy_ = true;
};

}  // namespace mamba
