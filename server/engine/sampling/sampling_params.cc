#include "server/engine/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mamba {
namespace {

template <typename T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Status bad(const std::string& field, const std::string& requirement, const std::string& got) {
  return invalidArgument("sampling." + field + " must be " + requirement + ", got " + got);
}

}  // namespace

Status validateSamplingParams(const SamplingParams& p, int32_t vocabSize,
                              int32_t maxNewTokensLimit) {
  if (vocabSize < 1) {
    return invalidArgument("vocab size must be >= 1, got " + str(vocabSize));
  }
  if (maxNewTokensLimit < 1) {
    return invalidArgument("max_new_tokens limit must be >= 1, got " + str(maxNewTokensLimit));
  }
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f || p.temperature > kMaxTemperature) {
    return bad("temperature", "finite and in [0, " + str(kMaxTemperature) + "]",
               str(p.temperature));
  }
  if (p.topK < 0 || p.topK > vocabSize) {
    return bad("top_k", "in [0, " + str(vocabSize) + "] (0 = off)", str(p.topK));
  }
  // Written so that NaN fails every check.
  if (!(p.topP > 0.0f && p.topP <= 1.0f)) {
    return bad("top_p", "in (0, 1]", str(p.topP));
  }
  if (!(p.minP >= 0.0f && p.minP < 1.0f)) {
    return bad("min_p", "in [0, 1)", str(p.minP));
  }
  if (!(p.repetitionPenalty > 0.0f && p.repetitionPenalty <= kMaxRepetitionPenalty)) {
    return bad("repetition_penalty", "in (0, " + str(kMaxRepetitionPenalty) + "]",
               str(p.repetitionPenalty));
  }
  if (p.maxNewTokens < 1 || p.maxNewTokens > maxNewTokensLimit) {
    return bad("max_new_tokens", "in [1, " + str(maxNewTokensLimit) + "]", str(p.maxNewTokens));
  }
  for (size_t i = 0; i < p.stopTokenIds.size(); ++i) {
    const int32_t id = p.stopTokenIds[i];
    if (id < 0 || id >= vocabSize) {
      return bad("stop_token_ids[" + str(i) + "]", "in [0, " + str(vocabSize) + ")", str(id));
    }
  }
  if (p.stopStrings.size() > kMaxStopStrings) {
    return bad("stop_strings", "at most " + str(kMaxStopStrings) + " strings",
               str(p.stopStrings.size()));
  }
  for (size_t i = 0; i < p.stopStrings.size(); ++i) {
    const size_t n = p.stopStrings[i].size();
    if (n == 0 || n > kMaxStopStringBytes) {
      return bad("stop_strings[" + str(i) + "]",
                 "non-empty and at most " + str(kMaxStopStringBytes) + " bytes",
                 str(n) + " bytes");
    }
  }
  if (p.logprobs < 0 || p.logprobs > kMaxLogprobs) {
    return bad("logprobs", "in [0, " + str(kMaxLogprobs) + "]", str(p.logprobs));
  }
  return Status::ok();
}

bool isStopToken(const SamplingParams& params, int32_t token,
                 std::span<const int32_t> eosTokenIds) {
  if (std::find(params.stopTokenIds.begin(), params.stopTokenIds.end(), token) !=
      params.stopTokenIds.end()) {
    return true;
  }
  return !params.ignoreEos &&
         std::find(eosTokenIds.begin(), eosTokenIds.end(), token) != eosTokenIds.end();
}

}  // namespace mamba
