// Per-request sampling parameters and their validation.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace mamba {

// Limits enforced by validateSamplingParams().
inline constexpr float kMaxTemperature = 100.0f;
inline constexpr float kMaxRepetitionPenalty = 100.0f;
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;
inline constexpr int32_t kMaxLogprobs = 20;

struct SamplingParams {
  float temperature = 1.0f;         // 0 => greedy (argmax); finite, in [0, 100]
  int32_t topK = 0;                 // 0 => off; in [0, vocab]
  float topP = 1.0f;                // in (0, 1]; 1 => off
  float minP = 0.0f;                // in [0, 1); 0 => off
  float repetitionPenalty = 1.0f;   // in (0, 100]; 1 => off (HF semantics)
  std::optional<uint64_t> seed;     // same seed => same output; absent => drawn once per request
  int32_t maxNewTokens = 128;       // in [1, maxNewTokensLimit]
  std::vector<int32_t> stopTokenIds;     // each in [0, vocab)
  std::vector<std::string> stopStrings;  // at most 16, each non-empty and at most 256 bytes
  bool ignoreEos = false;
  int32_t logprobs = 0;             // top alternatives reported per token, in [0, 20]
};

// INVALID_ARGUMENT naming the field ("sampling.top_p must be in (0, 1], got 1.5") for the
// first out-of-range field; OK otherwise. vocabSize is the valid vocabulary (no padding).
Status validateSamplingParams(const SamplingParams& params, int32_t vocabSize,
                              int32_t maxNewTokensLimit);

// Whether sampling `token` ends the request with FinishReason::kStop: it is one of
// params.stopTokenIds, or one of eosTokenIds and params.ignoreEos is false.
bool isStopToken(const SamplingParams& params, int32_t token,
                 std::span<const int32_t> eosTokenIds);

}  // namespace mamba
