// The engine's view of one loaded model variant and its state slots. Torch-free: LibTorch is a
// private dependency of the implementation (torch_backend.cc), so the RPC layer, which sees
// protobuf headers, never sees torch headers.
//
// Threading: a backend is driven by one thread at a time (the scheduler loop, or a tool's
// main thread). info() is immutable and may be read from any thread.
#pragma once

#include <cstdint>
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

  // Conveniences for tools and tests: every row's full logits, copied into *logits as
  // (rows x info().vocabSize) fp32, row-major; a null `logits` asks for no outputs.
  Status prefillLogits(std::span<const PrefillItem> items, std::vector<float>* lastLogits);
  Status decodeLogits(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                      std::vector<float>* logits);

 protected:
  // INVALID_ARGUMENT unless `request` fits a call of `rows` rows (and `out` is there when
  // needed). For implementations.
  Status checkRowRequest(const RowRequest& request, size_t rows, const StepOutputs* out) const;
};

// Loads a checkpoint (HF or mamba_ssm format) onto the requested device and dtype.
StatusOr<std::unique_ptr<ModelBackend>> loadTorchBackend(const BackendOptions& options);

}  // namespace mamba
