// Per-request token sampler: repetition penalty, greedy, temperature, top-k, top-p, min-p.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "server/engine/sampling/sampling_params.h"

namespace mamba {

// The greedy choice of one logits row and its log-probability.
struct GreedyPick {
  int32_t token = 0;
  float logprob = 0.0f;
};

// What Sampler::sample() returns at temperature 0 without repetition penalty and without
// top logprobs (whatever top-k, top-p, min-p and seed say; no RNG output is consumed): the
// lowest id of the largest sanitized logit (NaN counts as -inf, +inf as the largest float)
// and its log-softmax over `logits` (the same normalization as sample(): exactly `logits`,
// i.e. the sampled vocabulary), -inf when every logit is -inf or NaN (token 0 then).
// sample() itself returns this in that case, so the two are bit-identical by construction.
// Pure and thread-safe; O(V) with V expf and no allocation. `logits` must not be empty.
GreedyPick greedyPick(std::span<const float> logits);

// One per request; not thread-safe (a request is sampled by one thread at a time). Owns its
// RNG, a std::mt19937_64 whose output the C++ standard fixes, and draws uniform doubles from
// its raw 64-bit outputs, so a seed gives the same tokens on every platform and compiler.
// Each non-greedy sample() consumes exactly one RNG output; greedy consumes none.
class Sampler {
 public:
  // `params` must have passed validateSamplingParams(). Without params.seed a seed is drawn
  // once from std::random_device; seed() reports it so that a request can be replayed.
  explicit Sampler(const SamplingParams& params);

  struct Result {
    int32_t token = -1;
    // log-softmax of the chosen token under the unmodified logits (temperature 1, no penalty,
    // no truncation). -inf when every logit is -inf or NaN.
    float logprob = 0.0f;
    // The params.logprobs most likely tokens under the same distribution, best first
    // (ties: lowest id first), with their log-probabilities.
    std::vector<std::pair<int32_t, float>> top;
  };

  // logits: the valid vocabulary only (padding already removed), fp32, at least one entry.
  // NaN counts as -inf and +inf as the largest float. previousTokens (the ids the repetition
  // penalty applies to; the caller decides whether the prompt counts) may hold ids outside
  // the vocabulary, which are ignored. Order: repetition penalty, greedy if temperature == 0
  // (ties to the lowest id), temperature, top-k, top-p, min-p, renormalize, draw. If every
  // logit is -inf or NaN the result is the argmax of the raw values (token 0), never an error.
  // Cost: O(V) (a few passes and V expf for the reported logprob), plus O(V log k) with
  // top-k; top-p without top-k buckets the weights by log-probability and selects only
  // inside the boundary bucket (expected O(V)), never sorting the whole vocabulary.
  Result sample(std::span<const float> logits, std::span<const int32_t> previousTokens = {});

  uint64_t seed() const { return seed_; }

  // Whether sample() is greedyPick() of its logits: temperature 0, no repetition penalty,
  // no top logprobs. Such requests may take the token a backend computed on its device.
  bool isPlainGreedy() const {
    return temperature_ == 0.0f && repetitionPenalty_ == 1.0f && logprobs_ == 0;
  }

 private:
  // raw: sanitized logits; rawWeights: exp(raw - max raw).
  int32_t chooseToken(std::span<const double> raw, std::span<const float> rawWeights,
                      std::span<const int32_t> previousTokens);
  // Uniform in [0, 1) from the top 53 bits of one raw output.
  double nextUniform();

  float temperature_;
  int32_t topK_;
  float topP_;
  float minP_;
  float repetitionPenalty_;
  int32_t logprobs_;
  uint64_t seed_;
  std::mt19937_64 rng_;
};

}  // namespace mamba
