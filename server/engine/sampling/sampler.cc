#include "server/engine/sampling/sampler.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>

namespace mamba {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Scratch buffers shared by the samplers of one thread (sample() does not re-enter), so that
// many concurrent requests do not each hold O(V) memory. thread_local: samplers of different
// requests may run on different threads at once (the scheduler's sampling pool), each thread
// with its own scratch; nothing in it outlives one sample() call.
struct Scratch {
  std::vector<double> raw;         // sanitized logits
  std::vector<float> rawWeights;   // exp(raw - max raw)
  std::vector<double> penalized;   // logits after the repetition penalty
  std::vector<float> weights;      // exp((logit - max) / temperature)
  std::vector<int32_t> cand;       // explicit candidates
  std::vector<float> candWeights;  // their weights
  std::vector<int32_t> select;     // top-p boundary bucket
  std::vector<int32_t> seen;       // deduplicated previous tokens
};
thread_local Scratch tScratch;

double sanitize(float x) {
  if (std::isnan(x)) return kNegInf;
  if (x == std::numeric_limits<float>::infinity()) return static_cast<double>(FLT_MAX);
  return static_cast<double>(x);
}

// Strict total order of tokens: larger logit first, ties to the lower id.
struct Better {
  std::span<const double> v;
  bool operator()(int32_t a, int32_t b) const {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  }
};

// Lowest index of the largest value.
int32_t argmax(std::span<const double> v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

// The k best indices of v under Better, best first. O(V log k): a bounded heap for small k,
// a partial sort of all indices for large k.
void topKIndices(std::span<const double> v, size_t k, std::vector<int32_t>& out) {
  const size_t n = v.size();
  k = std::min(k, n);
  const Better better{v};
  out.clear();
  if (k == 0) return;
  if (k * 4 >= n) {
    out.resize(n);
    std::iota(out.begin(), out.end(), 0);
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(),
                      better);
    out.resize(k);
    return;
  }
  // Heap ordered by `better`: its front is the worst of the k kept so far.
  out.reserve(k);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (out.size() < k) {
      out.push_back(id);
      std::push_heap(out.begin(), out.end(), better);
    } else if (better(id, out.front())) {
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = id;
      std::push_heap(out.begin(), out.end(), better);
    }
  }
  std::sort_heap(out.begin(), out.end(), better);
}

// Top-p over all tokens: the token at rank r (under Better) is kept while the weight of the
// ranks before it is below `target`. Returns the worst kept token, or -1 when rounding left
// no cut (keep everything). One pass buckets tokens by (max - logit) / temperature in
// quarter nats (monotone in rank), a walk over the buckets finds the one holding the cut,
// and a weighted quickselect inside that bucket finds the exact token.
int32_t nucleusCutoff(std::span<const double> logits, std::span<const float> weights,
                      double maxLogit, double invTemperature, double target,
                      std::vector<int32_t>& select) {
  constexpr int kBuckets = 64;
  constexpr double kBucketsPerNat = 4.0;
  const size_t n = logits.size();
  auto bucketOf = [&](size_t i) {
    const double d = (maxLogit - logits[i]) * invTemperature * kBucketsPerNat;
    return d < kBuckets - 1 ? static_cast<int>(d) : kBuckets - 1;  // -inf, NaN-free: d >= 0
  };
  std::array<double, kBuckets> mass{};
  for (size_t i = 0; i < n; ++i) mass[bucketOf(i)] += weights[i];
  double base = 0.0;
  int b = 0;
  while (b < kBuckets - 1 && base + mass[b] < target) base += mass[b++];
  select.clear();
  for (size_t i = 0; i < n; ++i) {
    if (bucketOf(i) == b) select.push_back(static_cast<int32_t>(i));
  }
  const Better better{logits};
  int32_t last = -1;
  size_t lo = 0, hi = select.size();
  while (hi - lo > 16) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(select.begin() + lo, select.begin() + mid, select.begin() + hi, better);
    double before = base;
    for (size_t j = lo; j < mid; ++j) before += weights[select[j]];
    if (before < target) {
      base = before + weights[select[mid]];
      last = select[mid];
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  std::sort(select.begin() + lo, select.begin() + hi, better);
  for (size_t j = lo; j < hi && base < target; ++j) {
    base += weights[select[j]];
    last = select[j];
  }
  return last;
}

// Index into `weights` of the draw for uniform u among entries >= floor (and > 0). The
// largest weight is 1 and floor < 1, so some entry qualifies.
size_t drawIndex(std::span<const float> weights, float floor, double u) {
  double total = 0.0;
  for (float w : weights) {
    if (w >= floor) total += w;
  }
  const double target = u * total;
  double cum = 0.0;
  size_t last = 0;
  for (size_t j = 0; j < weights.size(); ++j) {
    const float w = weights[j];
    if (w > 0.0f && w >= floor) {
      cum += w;
      last = j;
      if (target < cum) return j;
    }
  }
  return last;  // rounding: u * total reached the full sum
}

}  // namespace

Sampler::Sampler(const SamplingParams& params)
    : temperature_(params.temperature),
      topK_(params.topK),
      topP_(params.topP),
      minP_(params.minP),
      repetitionPenalty_(params.repetitionPenalty),
      logprobs_(params.logprobs) {
  if (params.seed) {
    seed_ = *params.seed;
  } else {
    std::random_device rd;
    seed_ = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  }
  rng_.seed(seed_);
}

GreedyPick greedyPick(std::span<const float> logits) {
  // The same arithmetic, in the same order, as sample() below: sanitize, max (first index
  // on ties), sum of expf((float)(raw - max)) in double in id order, log, and the chosen
  // token's (raw - max) - logSum with raw == max.
  GreedyPick pick;
  const size_t n = logits.size();
  double maxRaw = sanitize(logits[0]);
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    const double r = sanitize(logits[i]);
    if (r > maxRaw) {
      maxRaw = r;
      best = i;
    }
  }
  pick.token = static_cast<int32_t>(best);
  if (maxRaw == kNegInf) {
    pick.logprob = -std::numeric_limits<float>::infinity();
    return pick;
  }
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<float>(sanitize(logits[i]) - maxRaw));
  pick.logprob = static_cast<float>((maxRaw - maxRaw) - std::log(sum));
  return pick;
}

double Sampler::nextUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

Sampler::Result Sampler::sample(std::span<const float> logits,
                                std::span<const int32_t> previousTokens) {
  Result result;
  if (logits.empty()) {
    result.logprob = -std::numeric_limits<float>::infinity();
    return result;
  }
  if (temperature_ == 0.0f && logprobs_ == 0 &&
      (repetitionPenalty_ == 1.0f || previousTokens.empty())) {
    const GreedyPick g = greedyPick(logits);
    result.token = g.token;
    result.logprob = g.logprob;
    return result;
  }
  const size_t n = logits.size();
  std::vector<double>& raw = tScratch.raw;
  std::vector<float>& rawWeights = tScratch.rawWeights;
  raw.resize(n);
  rawWeights.resize(n);
  double maxRaw = kNegInf;
  for (size_t i = 0; i < n; ++i) {
    raw[i] = sanitize(logits[i]);
    maxRaw = std::max(maxRaw, raw[i]);
  }
  // Log-softmax of the raw logits: (raw - max) - log(sum exp(raw - max)).
  double logSum = kNegInf;
  if (maxRaw > kNegInf) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      rawWeights[i] = std::exp(static_cast<float>(raw[i] - maxRaw));
      sum += rawWeights[i];
    }
    logSum = std::log(sum);
  } else {
    std::fill(rawWeights.begin(), rawWeights.end(), 0.0f);
  }
  auto logprobOf = [&](int32_t id) {
    if (maxRaw == kNegInf) return -std::numeric_limits<float>::infinity();
    return static_cast<float>((raw[id] - maxRaw) - logSum);
  };

  result.token = chooseToken(raw, rawWeights, previousTokens);
  result.logprob = logprobOf(result.token);
  if (logprobs_ > 0) {
    std::vector<int32_t> best;
    topKIndices(raw, static_cast<size_t>(logprobs_), best);
    result.top.reserve(best.size());
    for (int32_t id : best) result.top.emplace_back(id, logprobOf(id));
  }
  return result;
}

int32_t Sampler::chooseToken(std::span<const double> raw, std::span<const float> rawWeights,
                             std::span<const int32_t> previousTokens) {
  const size_t n = raw.size();
  std::span<const double> logits = raw;

  // Repetition penalty (HF): once per distinct previous token, divide positive logits and
  // multiply negative ones.
  bool penalized = false;
  if (repetitionPenalty_ != 1.0f && !previousTokens.empty()) {
    std::vector<double>& pen = tScratch.penalized;
    pen.assign(raw.begin(), raw.end());
    std::vector<int32_t>& seen = tScratch.seen;
    seen.assign(previousTokens.begin(), previousTokens.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const double penalty = repetitionPenalty_;
    for (int32_t id : seen) {
      if (id < 0 || static_cast<size_t>(id) >= n) continue;
      pen[id] = pen[id] < 0.0 ? pen[id] * penalty : pen[id] / penalty;
      penalized = true;
    }
    logits = pen;
  }

  if (temperature_ == 0.0f) return argmax(logits);
  const int32_t top = argmax(logits);
  const double maxLogit = logits[top];
  // Every logit -inf (or NaN): no distribution; fall back to the argmax of the raw values.
  // The penalty keeps finite values finite, so this covers raw as well.
  if (maxLogit == kNegInf) return argmax(raw);

  // Weights exp((logit - max) / T): the top token weighs exactly 1. Computed in double up to
  // the exponent, so huge logits or tiny temperatures cannot overflow.
  const double invTemperature = 1.0 / static_cast<double>(temperature_);
  auto weightOf = [&](size_t i) {
    return std::exp(static_cast<float>((logits[i] - maxLogit) * invTemperature));
  };
  std::vector<int32_t>& cand = tScratch.cand;
  std::vector<float>& candWeights = tScratch.candWeights;
  cand.clear();
  candWeights.clear();

  if (topK_ > 0 && static_cast<size_t>(topK_) < n) {
    // Top-k, then top-p over the k survivors in rank order.
    topKIndices(logits, static_cast<size_t>(topK_), cand);
    for (int32_t id : cand) candWeights.push_back(weightOf(id));
    if (topP_ < 1.0f) {
      const double target =
          topP_ * std::accumulate(candWeights.begin(), candWeights.end(), 0.0);
      double cum = 0.0;
      size_t keep = 0;
      while (keep < cand.size() && cum < target) cum += candWeights[keep++];
      cand.resize(keep);
      candWeights.resize(keep);
    }
  } else {
    std::span<const float> weights = rawWeights;  // exactly weightOf(i) at T = 1, no penalty
    if (penalized || temperature_ != 1.0f) {
      std::vector<float>& w = tScratch.weights;
      w.resize(n);
      for (size_t i = 0; i < n; ++i) w[i] = weightOf(i);
      weights = w;
    }
    int32_t cutoff = -1;
    if (topP_ < 1.0f) {
      const double target = topP_ * std::accumulate(weights.begin(), weights.end(), 0.0);
      cutoff = nucleusCutoff(logits, weights, maxLogit, invTemperature, target,
                             tScratch.select);
    }
    if (cutoff < 0) {
      // No truncation but min-p: draw over the whole vocabulary in id order.
      return static_cast<int32_t>(drawIndex(weights, minP_, nextUniform()));
    }
    // The nucleus in id order, so that the draw does not depend on how the selection
    // algorithm happened to arrange it.
    const Better better{logits};
    for (size_t i = 0; i < n; ++i) {
      const auto id = static_cast<int32_t>(i);
      if (id == cutoff || better(id, cutoff)) {
        cand.push_back(id);
        candWeights.push_back(weights[i]);
      }
    }
  }
  // Min-p (weights are relative to the top token, which weighs 1), renormalize, draw.
  return cand[drawIndex(candWeights, minP_, nextUniform())];
}

}  // namespace mamba
