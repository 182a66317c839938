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

struct ScoredToken {
  float logprob = 0.f;                 // log p(target | prefix), natural log
  bool isGreedy = false;               // target is the argmax at that position
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual const ModelInfo& info() const = 0;

  virtual std::optional<int32_t> acquireSlot() = 0;  // nullopt when all slots are taken
  virtual void releaseSlot(int32_t slot) = 0;
  virtual int64_t freeSlots() const = 0;

  // Prefills every item (long items are split into chunks internally). With `lastLogits`
  // non-null, fills it with (items.size() x info().vocabSize) fp32 logits of each item's last
  // position, row-major.
  virtual Status prefill(std::span<const PrefillItem> items, std::vector<float>* lastLogits) = 0;

  // Prefills one item and scores every position: result[t] = log p(targets[t] | tokens[0..t]).
  // targets.size() must equal item.tokens.size().
  virtual StatusOr<std::vector<ScoredToken>> prefillScore(const PrefillItem& item,
                                                          std::span<const int32_t> targets) = 0;

  // One decode step: tokens[b] continues the sequence in slots[b]. Fills (B x vocabSize) logits.
  virtual Status decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                        std::vector<float>* logits) = 0;
};

// Loads a checkpoint (HF or mamba_ssm format) onto the requested device and dtype.
StatusOr<std::unique_ptr<ModelBackend>> loadTorchBackend(const BackendOptions& options);

}  // namespace mamba
