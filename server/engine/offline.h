// Synchronous, single-request helpers on a ModelBackend, for tools and tests: generation with
// the full sampling/stop logic, and perplexity under the reference model's protocol.
// The serving path (continuous batching) lives in scheduler.h and shares the same pieces.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "server/common/perplexity.h"
#include "server/common/status.h"
#include "server/engine/model_backend.h"
#include "server/engine/sampling/finish_reason.h"
#include "server/engine/sampling/sampling_params.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba {

struct GenerationResult {
  std::vector<int32_t> tokens;   // generated ids (stop token included when one ended the run)
  std::string text;              // detokenized output, stop string removed
  FinishReason finishReason = FinishReason::kLength;
  double prefillSeconds = 0;     // time to first token
  double decodeSeconds = 0;      // all later steps
  uint64_t seed = 0;             // the seed actually used
};

// Generates from `prompt` (>= 1 id) in one slot of `backend`. `onText` (optional) receives
// text deltas that never split a UTF-8 character, as they are produced.
StatusOr<GenerationResult> generate(ModelBackend& backend, const Tokenizer& tokenizer,
                                    std::span<const int32_t> prompt, const SamplingParams& params,
                                    const std::function<void(std::string_view)>& onText = {});

using PerplexityResult = PerplexityStats;

// The protocol of models/mamba2-ref/README.md: encode without BOS; non-overlapping windows of
// `context` tokens, each from a zero state; tokens 1..n-1 of a window are scored given the
// window's previous tokens; bytes = byte lengths of the scored tokens.
StatusOr<PerplexityResult> evaluatePerplexity(ModelBackend& backend, const Tokenizer& tokenizer,
                                              std::span<const int32_t> tokens, int64_t context);

}  // namespace mamba
