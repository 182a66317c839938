// One generate request as the scheduler sees it: the shared job (prompt, parameters,
// observer, cancel flag) and, once admitted, the per-sequence decoding state (slot, prompt
// progress, sampler, stop strings, UTF-8 text deltas, timing).
//
// The token logic is offline.cc's generate() one token at a time: sample, stop token/EOS,
// stop strings (StopChecker), max_new_tokens, text through a Utf8StreamDecoder. The text
// deltas of all TokenEvents concatenate to GenerateResult::text.
//
// Threading: GenerateJob is shared by the submitting thread, the RequestHandle and the
// scheduler thread; only `cancelled` changes after submission. A GenerationSequence belongs
// to the scheduler thread, except that sample() may run on another thread (the scheduler's
// sampling pool) while the scheduler thread waits for it and touches the sequence not.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/engine/engine.h"
#include "server/engine/sampling/sampler.h"
#include "server/engine/sampling/stop_checker.h"
#include "server/tokenizer/tokenizer.h"
#include "server/tokenizer/utf8_stream_decoder.h"

namespace mamba {

namespace metrics {
struct ModelMetrics;  // server/metrics/serving_metrics.h
}

using SteadyClock = std::chrono::steady_clock;

// A validated generate request (immutable after submit, except `cancelled`).
struct GenerateJob {
  std::string model, variant;
  std::vector<int32_t> prompt;                      // >= 1 id, each in the model's vocabulary
  SamplingParams sampling;                          // passed validateSamplingParams()
  std::optional<SteadyClock::time_point> deadline;
  std::shared_ptr<GenerateObserver> observer;       // never null
  SteadyClock::time_point submitted;
  std::atomic<bool> cancelled{false};

  // Why the job must end now (CANCELLED or DEADLINE_EXCEEDED), if it must.
  std::optional<Status> interruption(SteadyClock::time_point now) const;
};

// Seconds between two time points.
double secondsBetween(SteadyClock::time_point from, SteadyClock::time_point to);

class GenerationSequence {
 public:
  // `tokenizer` (nullable: token-id-only model) and `metrics` (nullable) must outlive the
  // sequence. `sampleVocab`: logits entries that may be sampled (padding and ids the
  // tokenizer cannot decode excluded). `scheduled`: when the job got its slot.
  GenerationSequence(std::shared_ptr<GenerateJob> job, int32_t slot, const Tokenizer* tokenizer,
                     std::vector<int32_t> eosTokenIds, int32_t sampleVocab,
                     const metrics::ModelMetrics* metrics, SteadyClock::time_point scheduled);

  const GenerateJob& job() const { return *job_; }
  int32_t slot() const { return slot_; }

  // Prompt progress (chunked prefill).
  size_t promptDone() const { return promptDone_; }
  size_t promptRemaining() const { return job_->prompt.size() - promptDone_; }
  bool prefilling() const { return promptDone_ < job_->prompt.size(); }
  std::span<const int32_t> promptSlice(size_t n) const;  // the next n prompt ids
  void advancePrompt(size_t n) { promptDone_ += n; }

  // Whether the sequence has a sampled token to feed the next decode step.
  bool decoding() const { return !prefilling() && !tokens_.empty() && !finished_; }
  int32_t lastToken() const { return tokens_.back(); }
  size_t generated() const { return tokens_.size(); }  // tokens accepted so far
  bool finished() const { return finished_; }

  // Whether the next token needs the full logits row on the host. False for greedy requests
  // without repetition penalty and top logprobs: for them the token and logprob are
  // greedyPick() of the first sampleVocab logits, which a backend can compute on its device
  // (RowOutput::kGreedy) and hand to acceptGreedy().
  bool needsLogits() const { return !sampler_.isPlainGreedy(); }
  int32_t sampleVocab() const { return sampleVocab_; }

  // Draws the next token from `logits` (at least sampleVocab entries of one row; only those
  // are sampled and normalized over) and changes nothing but the sampler's RNG: no event, no
  // state. Uses this sequence's Sampler and the calling thread's scratch only, so different
  // sequences may sample on different threads at once. Pass the result to acceptSample().
  Sampler::Result sample(std::span<const float> logits);

  // Takes `r` as the next token: emits its TokenEvent and, when a stop condition or
  // max_new_tokens ends the request, calls onDone (status OK). Returns true when the request
  // finished. Scheduler thread.
  bool acceptSample(Sampler::Result r, SteadyClock::time_point now);

  // acceptSample() of a token the backend picked (RowOutput::kGreedy); only for sequences
  // whose needsLogits() is false, where it equals acceptLogits() of the same row.
  bool acceptGreedy(GreedyPick pick, SteadyClock::time_point now);

  // acceptSample(sample(logits), now).
  bool acceptLogits(std::span<const float> logits, SteadyClock::time_point now);

  // Ends the request early (cancel, deadline, model error): onDone with `status`. No-op if
  // already finished.
  void abort(Status status, FinishReason reason, SteadyClock::time_point now);

 private:
  void finish(Status status, FinishReason reason, SteadyClock::time_point now);

  std::shared_ptr<GenerateJob> job_;
  int32_t slot_;
  const Tokenizer* tokenizer_;
  std::vector<int32_t> eos_;
  int32_t sampleVocab_;
  const metrics::ModelMetrics* metrics_;
  SteadyClock::time_point scheduled_;
  std::optional<SteadyClock::time_point> firstToken_, lastTokenAt_;

  size_t promptDone_ = 0;
  Sampler sampler_;
  StopChecker stops_;
  Utf8StreamDecoder utf8_;
  std::vector<int32_t> history_;  // prompt + generated: the repetition penalty's window
  std::vector<int32_t> tokens_;   // generated ids (a stop token included)
  std::string text_;              // concatenated text deltas
  bool finished_ = false;
};

// Completes a job that never got a slot (dropped from the queue): onDone with `status`,
// the queue time and e2e filled, no tokens.
void finishUnscheduled(GenerateJob& job, Status status, FinishReason reason,
                       SteadyClock::time_point now, const metrics::ModelMetrics* metrics);

}  // namespace mamba
