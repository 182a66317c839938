// The engine's view of one loaded model variant and its state slots. Torch-free: LibTorch is a
// private dependency of the implementation (torch_backend.cc), so the RPC layer, which sees
// protobuf headers, never sees torch headers.
//
// Threading: a backend is driven by one thread at a time (the scheduler loop, or a tool's
// main thread). info() is immutable and may be read from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/engine/sampling/sampler.h"

namespace mamba {

struct ModelInfo {
  std::string name;
  std::string variant;                 // "dense" | "masked" | "compacted"
  std::string path;
  std::string dtype;                   // "fp32" | "bf16" | "fp16"
  std::string stateDtype;              // SSM state: "fp32" | "bf16"
  std::string device;                  // "cpu" | "cuda:0" ...
  int64_t nLayer = 0;
  int64_t dModel = 0;
  std::vector<int64_t> stateSizes;     // N_i per layer
  int64_t vocabSize = 0;               // ids that may be sampled (padding rows excluded)
  int64_t parameterCount = 0;
  int64_t stateBytesPerSequence = 0;
  int64_t numSlots = 0;
  std::vector<int32_t> eosTokenIds;
};

struct BackendOptions {
  std::string modelDir;
  std::string name;                    // defaults to the directory's base name
  std::string variant = "dense";
  std::string dtype = "fp32";
  std::string stateDtype = "fp32";     // SSM state: fp32 | bf16 (half the state bytes)
  std::string device = "cpu";
  int64_t numSlots = 8;
  int64_t maxPrefillChunk = 2048;      // tokens per sequence per prefill call (bounds memory)
};

struct PrefillItem {
  std::span<const int32_t> tokens;     // >= 1 token
  int32_t slot = 0;
  bool continueFromState = false;      // append to the slot's sequence instead of starting fresh
};

// Normalization: prefillScore() takes the log-softmax over all info().vocabSize logits (the
// model's vocabulary without padding rows), whereas generation reports logprobs normalized over
// the sampled vocabulary (the scheduler's sampleVocab: vocabSize further limited to the
// tokenizer's ids). The two agree when the tokenizer covers the whole model vocabulary.
struct ScoredToken {
  float logprob = 0.f;                 // log p(target | prefix), natural log, over vocabSize ids
  bool isGreedy = false;               // target is the argmax at that position
};

// What a prefill() or decode() call returns for one of its rows (a prefill item's last
// position, a decode token).
enum class RowOutput : uint8_t {
  kNone,    // nothing (e.g. a prefill chunk that does not end its prompt)
  kGreedy,  // only greedyPick() of the row's first greedyVocab logits, computed where the
            // logits are (on the device); no logits cross to the host
  kLogits,  // the full row (info().vocabSize fp32 logits) on the host, for host sampling
};

// Which outputs a call should produce.
struct RowRequest {
  std::span<const RowOutput> rows;     // one entry per row; empty: no outputs at all
  int32_t greedyVocab = 0;             // kGreedy ranges over ids [0, greedyVocab), in
                                       // [1, info().vocabSize]; 0 means info().vocabSize
};

// The outputs of one call, reused across calls (the caller keeps one and passes it again).
struct StepOutputs {
  // The kLogits rows only, in row order, info().vocabSize fp32 entries each (the j-th kLogits
  // row at offset j * vocabSize). Backend-owned memory (pinned host memory on CUDA), valid
  // until the next call on the backend.
  std::span<const float> logits;
  // One entry per row; set for kGreedy rows: greedyPick() of the row's first greedyVocab
  // logits, bit-identical on CPU; on CUDA the token is identical and the logprob may differ
  // by the rounding of its float64 softmax sum, which runs in another order (<= ~1e-11 abs).
  std::vector<GreedyPick> greedy;
};

// The input token of one row of a decodeStart() step.
struct DecodeInput {
  int32_t token = 0;         // the token id, when previousRow < 0
  int32_t previousRow = -1;  // >= 0: the token of the kGreedy pick of this row of the step
                             // started last (see decodeStart()); `token` is then unused

  static DecodeInput host(int32_t token) { return DecodeInput{token, -1}; }
  static DecodeInput fromPrevious(int32_t row) { return DecodeInput{0, row}; }
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual const ModelInfo& info() const = 0;

  virtual std::optional<int32_t> acquireSlot() = 0;  // nullopt when all slots are taken
  virtual void releaseSlot(int32_t slot) = 0;
  virtual int64_t freeSlots() const = 0;

  // Prefills every item (long items are split into chunks internally). Row i is item i's last
  // position; `request.rows` says what to return for each (empty: nothing; `out` may then be
  // null, otherwise it must not be).
  virtual Status prefill(std::span<const PrefillItem> items, const RowRequest& request,
                         StepOutputs* out) = 0;

  // Prefills one item and scores every position: result[t] = log p(targets[t] | tokens[0..t]).
  // targets.size() must equal item.tokens.size().
  virtual StatusOr<std::vector<ScoredToken>> prefillScore(const PrefillItem& item,
                                                          std::span<const int32_t> targets) = 0;

  // One decode step: tokens[b] continues the sequence in slots[b]; row b is token b's output,
  // as `request.rows[b]` asks (empty: nothing, `out` may be null).
  virtual Status decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                        const RowRequest& request, StepOutputs* out) = 0;

  // Two-phase decode, so that the host can work while the device runs a step.
  //
  // decodeStart() starts one decode step, the computation decode() does (row b continues the
  // sequence in slots[b] and returns what request.rows[b] asks), without waiting for it;
  // decodeFinish() waits for the OLDEST step in flight (started, not finished) and returns its
  // outputs in *out, as decode() would have (a null `out` drops them). Steps finish in the
  // order they started, and at most two are in flight: start t, start t+1, finish t, start
  // t+2, finish t+1, ...; a decodeStart() with two in flight, and a decodeFinish() with none,
  // are FAILED_PRECONDITION.
  //
  // Inputs: row b's token is inputs[b].token, or, when inputs[b].previousRow = j >= 0, the
  // token of the kGreedy pick of row j of the step started last, which must still be in
  // flight and must have asked kGreedy for row j (INVALID_ARGUMENT otherwise). That token
  // need never reach the host: a device backend feeds it on the device.
  //
  // Slots: a step in flight owns its slots' state. Until it finishes, its slots may be used
  // only by the next decodeStart() (continuing the same sequences); in particular the caller
  // must not release them (releaseSlot) nor prefill or decode them in other calls.
  //
  // Other calls: prefill(), prefillScore() and decode() made while steps are in flight run
  // after them (on the device, in call order) and never change their outputs; decode() does
  // not count as a started step. The StepOutputs of decodeFinish() (its `logits` span) stay
  // valid until the next call on the backend, as with the other calls.
  //
  // Errors: a decodeStart() that fails starts nothing (the steps in flight stay in flight and
  // must still be finished); its slots' state is then unspecified. A decodeFinish() that fails
  // ends its step all the same (its slots' state is unspecified), and the rows of a later step
  // that took their token from it (previousRow) decode unspecified tokens: discard them.
  //
  // The base implementation runs decode() inside decodeStart() (with the referenced tokens
  // resolved from the previous step's outputs, kept on the host) and keeps a copy of the
  // outputs for decodeFinish(), so every backend has the two phases, with results identical
  // to decode()'s; an accelerator backend overrides both to overlap them with the host.
  virtual Status decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                             const RowRequest& request);
  virtual Status decodeFinish(StepOutputs* out);

  // Conveniences for tools and tests: every row's full logits, copied into *logits as
  // (rows x info().vocabSize) fp32, row-major; a null `logits` asks for no outputs.
  Status prefillLogits(std::span<const PrefillItem> items, std::vector<float>* lastLogits);
  Status decodeLogits(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                      std::vector<float>* logits);

 protected:
  // INVALID_ARGUMENT unless `request` fits a call of `rows` rows (and `out` is there when
  // needed). For implementations.
  Status checkRowRequest(const RowRequest& request, size_t rows, const StepOutputs* out) const;
  // INVALID_ARGUMENT / FAILED_PRECONDITION unless decodeStart(inputs, slots, request) may
  // start a step while `inFlight` steps are in flight, the newest of which asked for
  // `previousRows` (ignored when inFlight is 0). Token ids and slots are not checked.
  Status checkDecodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                          const RowRequest& request, size_t inFlight,
                          std::span<const RowOutput> previousRows) const;

 private:
  Status checkRowShape(const RowRequest& request, size_t rows) const;

  // The base two-phase implementation: the steps in flight, oldest first, with their outputs.
  struct KeptStep {
    std::vector<RowOutput> rows;
    std::vector<GreedyPick> greedy;
    std::vector<float> logits;
  };
  std::deque<KeptStep> kept_;
  std::vector<float> finishedLogits_;  // what the last decodeFinish() returned
};

// Loads a checkpoint (HF or mamba_ssm format) onto the requested device and dtype.
StatusOr<std::unique_ptr<ModelBackend>> loadTorchBackend(const BackendOptions& options);
// Sets LibTorch's intra-op thread count (process-wide; threads > 0).
void setCpuThreads(int threads);
// LibTorch's current intra-op thread count.
int cpuThreads();

}  // namespace mamba
