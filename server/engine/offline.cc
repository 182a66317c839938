#include "server/engine/offline.h"

#include <chrono>
#include <cmath>

#include "server/engine/sampling/sampler.h"
#include "server/engine/sampling/stop_checker.h"
#include "server/tokenizer/utf8_stream_decoder.h"

namespace mamba {
namespace {

// Releases a slot on every path out of a scope.
class SlotGuard {
 public:
  SlotGuard(ModelBackend& b, int32_t slot) : b_(b), slot_(slot) {}
  ~SlotGuard() { b_.releaseSlot(slot_); }
  int32_t slot() const { return slot_; }

 private:
  ModelBackend& b_;
  int32_t slot_;
};

StatusOr<int32_t> acquire(ModelBackend& backend) {
  auto slot = backend.acquireSlot();
  if (!slot) return resourceExhausted("no free state slot");
  return *slot;
}

}  // namespace

StatusOr<GenerationResult> generate(ModelBackend& backend, const Tokenizer& tokenizer,
                                    std::span<const int32_t> prompt, const SamplingParams& params,
                                    const std::function<void(std::string_view)>& onText) {
  using Clock = std::chrono::steady_clock;
  const int32_t vocab = static_cast<int32_t>(std::min<int64_t>(backend.info().vocabSize, tokenizer.vocabSize()));
  MAMBA_RETURN_IF_ERROR(validateSamplingParams(params, vocab, 1 << 20));
  if (prompt.empty()) return invalidArgument("prompt must contain at least one token");
  MAMBA_ASSIGN_OR_RETURN(int32_t slotId, acquire(backend));
  SlotGuard slot(backend, slotId);

  GenerationResult out;
  Sampler sampler(params);
  out.seed = sampler.seed();
  StopChecker stops(params.stopStrings);
  Utf8StreamDecoder utf8;
  std::vector<float> logits;
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  const std::vector<int32_t>& eos = backend.info().eosTokenIds;
  const size_t rowStride = static_cast<size_t>(backend.info().vocabSize);

  auto t0 = Clock::now();
  PrefillItem item{prompt, slot.slot(), false};
  MAMBA_RETURN_IF_ERROR(backend.prefillLogits(std::span<const PrefillItem>(&item, 1), &logits));
  auto t1 = Clock::now();
  out.prefillSeconds = std::chrono::duration<double>(t1 - t0).count();

  auto emit = [&](const std::string& bytes) {
    std::string text = utf8.push(bytes);
    out.text += text;
    if (onText && !text.empty()) onText(text);
  };
  out.finishReason = FinishReason::kLength;
  for (int32_t i = 0; i < params.maxNewTokens; ++i) {
    if (i > 0) {
      int32_t last = out.tokens.back();
      MAMBA_RETURN_IF_ERROR(backend.decodeLogits(std::span<const int32_t>(&last, 1), std::span<const int32_t>(&slotId, 1), &logits));
    }
    Sampler::Result r = sampler.sample(std::span<const float>(logits.data(), std::min<size_t>(rowStride, static_cast<size_t>(vocab))), history);
    out.tokens.push_back(r.token);
    history.push_back(r.token);
    if (isStopToken(params, r.token, eos)) {
      out.finishReason = FinishReason::kStop;
      break;
    }
    StopChecker::Step step = stops.push(tokenizer.tokenBytes(r.token));
    emit(step.emit);
    if (step.stopped) {
      out.finishReason = FinishReason::kStopString;
      break;
    }
  }
  if (out.finishReason != FinishReason::kStopString) emit(stops.flush());
  std::string rest = utf8.finish();
  out.text += rest;
  if (onText && !rest.empty()) onText(rest);
  out.decodeSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return out;
}

StatusOr<PerplexityResult> evaluatePerplexity(ModelBackend& backend, const Tokenizer& tokenizer,
                                              std::span<const int32_t> tokens, int64_t context) {
  if (context < 2) return invalidArgument("context must be at least 2 tokens");
  MAMBA_ASSIGN_OR_RETURN(int32_t slotId, acquire(backend));
  SlotGuard slot(backend, slotId);
  PerplexityResult r;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(context)) {
    size_t n = std::min<size_t>(static_cast<size_t>(context), tokens.size() - start);
    if (n < 2) break;
    // Score positions 0..n-2 predicting tokens 1..n-1 of the window.
    std::span<const int32_t> window = tokens.subspan(start, n);
    PrefillItem item{window.first(n - 1), slot.slot(), false};
    MAMBA_ASSIGN_OR_RETURN(std::vector<ScoredToken> scored, backend.prefillScore(item, window.subspan(1)));
    for (size_t i = 0; i < scored.size(); ++i) {
      r.nllSum -= static_cast<double>(scored[i].logprob);
      r.bytesScored += static_cast<int64_t>(tokenizer.tokenBytes(window[i + 1]).size());
    }
    r.tokensScored += static_cast<int64_t>(scored.size());
  }
  return r;
}

}  // namespace mamba
