// The serving engine: hosted models (name x variant), continuous batching, request lifecycle.
//
// Torch-free and gRPC-free. The RPC layer converts protobuf messages to these types and maps
// Status codes to gRPC codes (the one mapping lives in server/rpc/).
//
// Threading: every public method is thread-safe. Each hosted model variant has one scheduler
// thread that owns its ModelBackend and state slots; observers are called on that thread and
// must not block (copy the event and hand it off).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/common/status.h"
#include "server/engine/model_backend.h"
#include "server/engine/sampling/finish_reason.h"
#include "server/engine/sampling/sampling_params.h"

namespace mamba {

namespace metrics {
class ServingMetrics;  // server/metrics/serving_metrics.h
}

struct SchedulerOptions {
  int64_t maxQueued = 256;               // waiting requests per model variant; beyond: RESOURCE_EXHAUSTED
  int64_t maxBatch = 64;                 // sequences per decode step (<= state slots)
  int64_t prefillChunkTokens = 512;      // chunked prefill: tokens per sequence per scheduler iteration
  int64_t maxPrefillTokensPerStep = 2048;// prefill token budget per iteration (bounds the decode stall)
  int32_t maxNewTokensLimit = 4096;
  int64_t maxPromptTokens = 1 << 20;
  // Worker threads that sample host rows (non-greedy requests) in parallel when a step has at
  // least 4 of them: -1 = min(8, hardware threads - 1), at least 1; 0 = the scheduler thread
  // alone. Results do not depend on it (each request has its own RNG).
  int32_t samplingThreads = -1;
  // Pipelined decode: while every decoding request is plain greedy, the scheduler starts the
  // next decode step before it handles the current one's tokens on the host (the next step
  // takes them on the device), so that the host work overlaps the device's step. Results do
  // not depend on it; off, every step is launched, waited for and handled in turn.
  bool pipelineDecode = true;
  // When the scheduler runs out of work it polls for a new request for this long before it
  // sleeps on its condition variable (0: sleeps at once). Waking a sleeping thread costs tens
  // of microseconds on an idle machine, added to the first token of a request that arrives
  // while the engine is idle; polling costs a CPU core for the window. At most
  // kMaxIdleSpinMicros. H200, c = 1, 500 us: the scheduler's part of TTFT 18-40 us shorter
  // (bench/results/h200_2026-12-01/session9).
  static constexpr int64_t kMaxIdleSpinMicros = 1'000'000;
  int64_t idleSpinMicros = 0;
};

// The variants a model is served in: dense; masked (pruned SSM states zeroed, shapes kept);
// compacted (pruned states removed). The engine, the YAML/flag configuration and the admin
// layer accept these names and no others.
inline bool isVariantName(std::string_view name) {
  return name == "dense" || name == "masked" || name == "compacted";
}

struct ModelSpec {
  std::string name;                      // public model name
  std::string variant = "dense";         // isVariantName()
  BackendOptions backend;                // where and how to load it
  std::string tokenizerPath;             // empty => <backend.modelDir>/tokenizer.json
};

struct EngineOptions {
  std::vector<ModelSpec> models;
  SchedulerOptions scheduler;
  std::string defaultModel;              // used when a request names no model; first model if empty
  // LibTorch's intra-op threads (process-wide: CPU models' kernels), set by Engine::create;
  // 0 keeps LibTorch's default (one per core). Measured on a 2-core box serving the reference
  // model with the client beside it (c = 1): TPOT p50 2.45-4.13 ms at the default 2 threads,
  // 1.05-1.86 ms at 1 (four paired runs, bench/results/cpu_2026-11-30_session5).
  int64_t cpuThreads = 0;
};

struct GenerateRequest {
  std::string model;                     // empty => default model
  std::string variant;                   // empty => "dense" (or the model's only variant)
  std::optional<std::string> promptText; // exactly one of promptText / promptTokens
  std::vector<int32_t> promptTokens;
  SamplingParams sampling;
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct TokenEvent {
  int32_t token = 0;
  std::string textDelta;                 // complete UTF-8 characters only; may be empty
  // Natural log, log-softmax of the unmodified logits normalized over the sampled vocabulary
  // (the model's ids further limited to the tokenizer's, Scheduler::sampleVocab()); Score
  // normalizes over all of the model's ids instead (ContinuationScore).
  float logprob = 0.f;
  std::vector<std::pair<int32_t, float>> topLogprobs;
};

struct RequestTiming {
  double queueSeconds = 0;               // submit -> first scheduled
  double prefillSeconds = 0;             // first scheduled -> first token (TTFT minus queue)
  double ttftSeconds = 0;                // submit -> first token
  double decodeSeconds = 0;              // first token -> last token
  double meanTpotSeconds = 0;            // decodeSeconds / (generated - 1); 0 if < 2 tokens
  double e2eSeconds = 0;
  int64_t promptTokens = 0;
  int64_t generatedTokens = 0;
};

struct GenerateResult {
  Status status;                         // OK, or why the request failed/was cancelled
  FinishReason finishReason = FinishReason::kLength;
  std::vector<int32_t> tokens;
  std::string text;
  RequestTiming timing;
  std::string model, variant;            // what actually served it
};

class GenerateObserver {
 public:
  virtual ~GenerateObserver() = default;
  virtual void onToken(const TokenEvent& event) = 0;        // scheduler thread; non-blocking
  virtual void onDone(const GenerateResult& result) = 0;    // exactly once, last call
};

// Cancels a submitted request: its slot is freed at the next scheduler step and onDone()
// reports CANCELLED. Safe to call from any thread, any number of times, after completion too.
class RequestHandle {
 public:
  virtual ~RequestHandle() = default;
  virtual void cancel() = 0;
};

struct ScoreRequest {
  std::string model, variant;
  std::string context;                   // text; or contextTokens if non-empty
  std::vector<int32_t> contextTokens;
  std::vector<std::string> continuations;
  std::vector<std::vector<int32_t>> continuationTokens;  // used when continuations is empty
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct ContinuationScore {
  double logprob = 0;                    // sum of log p over the continuation's tokens, each
                                         // normalized over all ModelInfo::vocabSize ids
  bool isGreedy = false;                 // every continuation token was the argmax
  int64_t numTokens = 0;
  int64_t numBytes = 0;                  // UTF-8 bytes of the continuation text
};

struct ScoreResult {
  std::vector<ContinuationScore> scores;
  std::string model, variant;
};

struct ModelLoadResult {
  ModelInfo info;                        // the model now hosted
  bool replaced = false;                 // it replaced a hosted model of the same name and variant
  ModelInfo previous;                    // that model (when replaced)
  double loadSeconds = 0;                // reading and placing the checkpoint
};

class Engine {
 public:
  // Loads every model and starts one scheduler thread per variant. `metrics` (optional,
  // not owned) must outlive the engine; it receives the per-model series of issue 4.
  static StatusOr<std::unique_ptr<Engine>> create(const EngineOptions& options,
                                                  metrics::ServingMetrics* metrics = nullptr);
  virtual ~Engine() = default;

  // Validates and enqueues. Errors: INVALID_ARGUMENT (names the field), NOT_FOUND (model or
  // variant), RESOURCE_EXHAUSTED (queue full), UNAVAILABLE (draining).
  // On error the observer is never called; on OK its onDone() is called exactly once, also
  // for DEADLINE_EXCEEDED (checked at every scheduler step, queued or running), CANCELLED
  // and shutdown. The engine counts every request of a hosted model in
  // mamba_requests_total{status}, refusals included (the RPC layer must not count again).
  virtual StatusOr<std::shared_ptr<RequestHandle>> submit(GenerateRequest request,
                                                          std::shared_ptr<GenerateObserver> observer) = 0;
  // Blocking: scores continuations (lm-evaluation-harness semantics), through the scheduler.
  // Each continuation is scored as tokenize(context) ++ tokenize(continuation) (encoded
  // separately); an empty context is replaced by the model's EOS token, as the harness does.
  // Same errors as submit(), plus DEADLINE_EXCEEDED.
  virtual StatusOr<ScoreResult> score(const ScoreRequest& request) = 0;

  virtual std::vector<ModelInfo> listModels() const = 0;
  // Text <-> ids with the tokenizer of a hosted model.
  virtual StatusOr<std::vector<int32_t>> tokenize(const std::string& model, const std::string& text) const = 0;

  // Counts in mamba_requests_total a call that the RPC layer refused before it reached
  // submit() or score() (a call arriving while the server drains), under the model and variant
  // it named. A model that is not hosted is not counted, as in submit().
  virtual void countRefused(const std::string& model, const std::string& variant, const Status& status) = 0;

  // Hot swap. Loads `spec` (on the calling thread, outside every lock: serving goes on) and
  // hosts it as (name, variant): a new variant, or the replacement of the one hosted under that
  // pair. The replacement is atomic: every request accepted before it (queued ones included)
  // finishes on the model it was accepted by, every later one goes to the new model, and no
  // request fails because of the swap. The replaced model stops when its last request has
  // finished, and its memory (slots, weights) is freed then, on a background thread. Loads are
  // serialised (one at a time), so two never hold their weights at once on top of the hosted
  // models. A failed load changes nothing. Errors: those of loading (INVALID_ARGUMENT or
  // NOT_FOUND naming the field or file), UNAVAILABLE while draining or shut down.
  virtual StatusOr<ModelLoadResult> loadModel(const ModelSpec& spec) = 0;
  // Stops hosting (name, variant): new requests for it get NOT_FOUND at once, accepted ones
  // finish first (as for a replaced model). NOT_FOUND if it is not hosted; FAILED_PRECONDITION
  // for the last variant of the default model (requests naming no model would have nowhere to go).
  virtual Status unloadModel(const std::string& name, const std::string& variant) = 0;
  // Replaced or unloaded models still finishing their requests.
  virtual int64_t retiringModels() const = 0;

  // Stops admitting (submit -> UNAVAILABLE); running and queued requests continue.
  virtual void beginDrain() = 0;
  virtual bool draining() const = 0;
  // Blocks until no request is queued or running, or the timeout passes; true if idle.
  virtual bool waitIdle(std::chrono::milliseconds timeout) = 0;
  // Cancels everything still in flight and joins the scheduler threads. Idempotent.
  virtual void shutdown() = 0;
};

}  // namespace mamba
