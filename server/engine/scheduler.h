// The continuous-batching scheduler of one hosted model variant.
//
// Policy (one loop iteration, repeated while there is work):
//   1. Drop: queued or running requests that were cancelled or passed their deadline end
//      with CANCELLED / DEADLINE_EXCEEDED and free their slots.
//   2. Prefill, under a token budget of maxPrefillTokensPerStep per iteration: sequences
//      already admitted but not fully prefilled go first, in admission order; then waiting
//      requests are admitted, FIFO, while the budget lasts, a state slot is free and fewer
//      than maxBatch generations hold slots. Each sequence advances by at most
//      prefillChunkTokens (later chunks continue from the slot's state), and all generation
//      chunks of the iteration run as ONE batched, right-padded prefill() call. A sequence
//      whose prompt completes samples its first token from that call's logits. Score items
//      take their chunks from the same budget (prefillScore(), one item per call).
//   3. Decode: one batched decode() over every generation that has a token to feed
//      (<= maxBatch), each sampled with its own Sampler; stop tokens, EOS, stop strings and
//      max_new_tokens end requests, which free their slots at once.
//      Pipelined (SchedulerOptions::pipelineDecode, while every decoding request is plain
//      greedy): the step of iteration i is started (decodeStart) before step i-1, started by
//      the previous iteration, is finished (decodeFinish) and its tokens are handled, so that
//      the device runs step i during that host work and the next iteration's planning; a
//      sequence whose latest token is still pending in step i-1 takes it on the device. A
//      sequence that ends on step i-1's token (stop, EOS, stop string), or is cancelled, while
//      step i advances it loses its row of step i, and its slot stays held until step i has
//      finished (DecodePipeline); a sequence whose pending token is its max_new_tokens-th is
//      left out of step i. Any request that needs logits on the host, an empty step, a failure
//      and shutdown drain the pipeline (finish the step in flight and handle its tokens) and
//      fall back to the synchronous step. Every request gets the same tokens, events and
//      result either way: a step computes each sequence independently, the rows that only the
//      pipeline adds are dropped, and a cancel seen in a token event takes effect before the
//      next step the request would have been in on the synchronous path too.
// Sampling (steps 2 and 3): plain greedy requests (GenerationSequence::needsLogits() false)
// take the backend's device-side greedy pick (RowOutput::kGreedy: a token and its logprob
// per row cross to the host, no logits); the others get their full logits row and are
// sampled on the host, in parallel on a small worker pool when a step has >= 4 of them. The
// events, metrics and stop handling then run on the scheduler thread in sequence order.
// Bounds: a decode step waits for at most one iteration's prefill work, i.e. at most
// maxPrefillTokensPerStep prompt tokens (TPOT <= prefill(budget) + decode(batch)), however
// long the prompts are; a prompt of P tokens needs ceil(P / prefillChunkTokens) iterations
// once admitted, and FIFO order keeps later arrivals from starving it (TTFT). No request
// ever changes another's result: sequences share nothing but the batch, and the model's
// batched prefill (right padding) and decode compute each sequence independently.
//
// Metrics: mamba_decode_step_seconds is the duration of a synchronous decode() call, and for a
// pipelined step the time from its start, or from the end of the previous step's
// decodeFinish() if later, to the end of its own decodeFinish(): the period at which steps
// complete (the device's step time while the host keeps ahead of it; more when the host work
// or a prefill is longer). mamba_batch_size then counts the rows that produced a token, without
// the dropped ones, and a step whose rows were all dropped is observed in neither; so the batch
// sizes add up to the tokens that decode steps produced, as on the synchronous path.
//
// Threading: enqueue*, waitIdle, inFlight and shutdown are thread-safe; the backend, the
// slots and every running sequence belong to the scheduler thread, which also calls the
// observers and feeds the metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/common/status.h"
#include "server/engine/decode_pipeline.h"
#include "server/engine/engine.h"
#include "server/engine/generation_sequence.h"
#include "server/engine/model_backend.h"
#include "server/engine/score_job.h"
#include "server/engine/parallel_pool.h"
#include "server/metrics/gauge.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba {

class Scheduler {
 public:
  // `tokenizer` (nullable: token-id-only model) and `metrics` (nullable) are not owned and
  // must outlive the scheduler. The thread starts at once.
  Scheduler(std::unique_ptr<ModelBackend> backend, const Tokenizer* tokenizer,
            SchedulerOptions options, const metrics::ModelMetrics* metrics);
  ~Scheduler();  // shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Immutable; any thread.
  const ModelInfo& info() const { return info_; }
  const SchedulerOptions& options() const { return options_; }
  // Logits entries a request may sample: the model's vocabulary, further limited to the
  // tokenizer's ids when there is a tokenizer.
  int32_t sampleVocab() const { return sampleVocab_; }

  // Queues a validated job. RESOURCE_EXHAUSTED when maxQueued entries are waiting,
  // UNAVAILABLE after shutdown(). On OK the observer's onDone will be called exactly once.
  Status enqueue(std::shared_ptr<GenerateJob> job);
  // Queues every item of a score job (one queue entry each, all or none), same errors.
  // On OK the job will complete or fail.
  Status enqueueScore(std::shared_ptr<ScoreJob> job);

  // Accepted requests (generate jobs + score items) not finished yet.
  int64_t inFlight() const;
  // Blocks until inFlight() == 0 or `deadline`; true if idle.
  bool waitIdle(std::chrono::steady_clock::time_point deadline);
  // Ends everything in flight with CANCELLED, refuses new work, joins the thread. Idempotent.
  // From the scheduler thread itself (an observer) it only requests the stop.
  void shutdown();

 private:
  // A queue entry: a generate job or one item of a score job.
  struct Pending {
    std::shared_ptr<GenerateJob> gen;
    std::shared_ptr<ScoreJob> score;
    size_t item = 0;
  };
  // A request holding a slot (exactly one of the two).
  struct Active {
    std::unique_ptr<GenerationSequence> gen;
    std::unique_ptr<ScoreSequence> score;
    size_t planned = 0;  // prompt tokens to prefill in this iteration
  };

  void loop();
  // Step 1 for the running set (they leave active_ in compact()).
  void dropInterrupted(SteadyClock::time_point now);
  // Step 1 for the queue, then step 2's plan: the budget over running sequences first, then
  // admission. Returns how many queued entries were dropped (and finished).
  int64_t planAndAdmit(SteadyClock::time_point now);
  // Step 2's model calls; returns how many were made.
  int64_t runPrefill();
  // Step 3; returns how many decode calls (decode, decodeStart, decodeFinish) were made.
  int64_t runDecode();
  int64_t runSyncDecode();
  int64_t runPipelinedDecode();
  // Finishes the oldest pipelined step and hands its tokens to their sequences (1 call).
  int64_t finishStep();
  // Finishes every pipelined step in flight; returns how many.
  int64_t drainPipeline();
  // What row k of a model call must return for the generation active_[which[k]].
  RowOutput rowOutputFor(const GenerationSequence& g) const {
    return g.needsLogits() ? RowOutput::kLogits : RowOutput::kGreedy;
  }
  // Accepts the outputs (out_) of a model call whose row k belongs to active_[which[k]] and
  // asked for rows_[k]: samples the kLogits rows (in parallel when there are enough), then
  // hands every row with an output to its sequence in row order.
  void acceptRows(std::span<const size_t> which, SteadyClock::time_point now);
  // Removes finished entries of active_, releasing their slots (through pipeline_, which holds
  // those of steps in flight); returns how many.
  int64_t compact();
  // Ends and retires everything (shutdown).
  void cancelAll(const Status& why);
  void retire(int64_t n);  // n requests finished: inFlight_ -= n
  void updateGauges();
  void failSequence(Active& a, const Status& status, SteadyClock::time_point now);
  bool isDone(const Active& a) const;

  std::unique_ptr<ModelBackend> backend_;
  const ModelInfo info_;
  const Tokenizer* tokenizer_;
  const SchedulerOptions options_;
  const metrics::ModelMetrics* metrics_;
  // This scheduler's parts of the variant's gauges (a hot swap runs two schedulers on one
  // series until the old one is destroyed, which withdraws its parts). waitingShare_ is written
  // under mutex_, the others on the scheduler thread (and in the constructor).
  metrics::GaugeShare waitingShare_, runningShare_, slotsUsedShare_, slotsCapacityShare_;
  int32_t sampleVocab_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // work arrived or shutdown
  // Bumped (after the queue or stopping_ changed, under mutex_) by every enqueue and by
  // shutdown: the idle poll (SchedulerOptions::idleSpinMicros) watches it without the mutex.
  std::atomic<uint64_t> arrivals_{0};
  std::condition_variable idle_;  // inFlight_ reached 0
  std::deque<Pending> queue_;
  int64_t inFlight_ = 0;
  bool stopping_ = false;

  // Scheduler thread only.
  std::vector<Active> active_;
  std::vector<RowOutput> rows_;               // per row of the current model call
  StepOutputs out_;                           // its outputs
  std::vector<size_t> hostRows_;              // rows sampled on the host
  std::vector<Sampler::Result> hostResults_;  // their results, same order
  std::unique_ptr<ParallelPool> pool_;        // host sampling; null: scheduler thread only
  DecodePipeline pipeline_;                   // pipelined greedy steps in flight

  std::once_flag joined_;
  std::thread thread_;  // started at the end of the constructor
};

}  // namespace mamba
