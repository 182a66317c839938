// Mamba-2 model description: every shape the loader, the caches and the ops need.
//
// Read from either checkpoint format (spec §1): Hugging Face `model_type: mamba2` or
// state-spaces `mamba_ssm` (`d_model` + `ssm_cfg.layer == "Mamba2"`). The SSM state size is
// per layer (pruned models have N_i <= N, any N_i >= 1); HF files carry one `state_size`, and
// our own extension key `state_sizes` (a list, one entry per layer) when layers differ.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace mamba {

enum class CheckpointFormat { kHuggingFace, kMambaSsm };

struct ModelConfig {
  int64_t dModel = 0;
  int64_t nLayer = 0;
  int64_t vocabSize = 0;     // rows of the embedding / lm_head (padded vocabulary)
  int64_t rawVocabSize = 0;  // ids the tokenizer can produce (<= vocabSize); rows above are padding
  int64_t dInner = 0;        // Di = expand * dModel (the SSM width; d_mlp > 0 is rejected)
  int64_t headDim = 0;       // P
  int64_t nHeads = 0;        // H = Di / P
  int64_t nGroups = 1;       // G; head h reads group h / (H / G)
  int64_t convKernel = 4;    // K
  int64_t chunkSize = 256;   // Q (numerics only, not the result)
  std::vector<int64_t> stateSizes;  // N_i, one per layer
  double normEps = 1e-5;     // block norms, final norm and the gated norm
  double dtMin = 0.0;        // time_step_limit, applied after softplus in prefill
  double dtMax = std::numeric_limits<double>::infinity();
  bool convBias = true;
  bool projBias = false;     // in_proj / out_proj bias
  bool tieEmbeddings = true;
  bool residualInFp32 = true;
  std::optional<int64_t> bosTokenId, eosTokenId, padTokenId;
  CheckpointFormat format = CheckpointFormat::kHuggingFace;

  int64_t stateSize(int64_t layer) const { return stateSizes.at(static_cast<size_t>(layer)); }
  int64_t convDim(int64_t layer) const { return dInner + 2 * nGroups * stateSize(layer); }
  int64_t inProjDim(int64_t layer) const { return 2 * dInner + 2 * nGroups * stateSize(layer) + nHeads; }
  int64_t maxStateSize() const;
  bool uniformStateSize() const;
  // Per-sequence decode state in bytes (conv state + SSM state over all layers).
  int64_t stateBytesPerSequence(int64_t ssmStateElemBytes, int64_t convStateElemBytes) const;
  // Total parameter count of the described model (tied embeddings counted once).
  int64_t parameterCount() const;

  // Checks the internal consistency (positive sizes, H*P == Di, H % G == 0, ...).
  Status validate() const;

  // Parses a config.json of either format. `origin` names the file in error messages.
  static StatusOr<ModelConfig> fromJson(const std::string& text, const std::string& origin);
  static StatusOr<ModelConfig> fromFile(const std::string& path);
  // HF-format config.json text. Uniform state sizes give a plain HF Mamba2 config; mixed sizes
  // add `state_sizes` (and state_size = max), which only this engine can load.
  std::string toHfJson() const;
};

}  // namespace mamba
