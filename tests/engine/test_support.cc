#include "tests/engine/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "server/model/checkpoint.h"
#include "server/model/random_init.h"
#include "tests/common/byte_tokenizer.h"

namespace mamba::test {
namespace fs = std::filesystem;


TempModelDir::TempModelDir(const ModelConfig& config, uint64_t seed) : dir_(tmp_.path().string()) {
  Status st = saveHfCheckpoint(config, randomWeights(config, seed), dir_);
  if (!st.isOk()) throw std::runtime_error(st.toString());
  std::ofstream(fs::path(dir_) / "tokenizer.json") << testing::byteLevelTokenizerJson();
}

const std::string& modelDir() {
  static const std::string dir = [] {
    const fs::path ref = fs::path(MAMBA_SOURCE_DIR) / "models" / "mamba2-ref";
    const bool forceTiny = std::getenv("MAMBA_TEST_TINY_MODEL") != nullptr;
    if (!forceTiny && fs::exists(ref / "config.json") && fs::exists(ref / "tokenizer.json")) return ref.string();
    auto config = presetConfig("tiny");
    if (!config.isOk()) throw std::runtime_error(config.status().toString());
    static TempModelDir tiny(*config, 1);
    return tiny.dir();
  }();
  return dir;
}

const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto t = Tokenizer::fromFile((fs::path(modelDir()) / "tokenizer.json").string());
    if (!t.isOk()) throw std::runtime_error(t.status().toString());
    return std::move(t).value();
  }();
  return *tok;
}

std::unique_ptr<ModelBackend> loadBackend(int64_t numSlots, const std::string& device, const std::string& dir) {
  BackendOptions o;
  o.modelDir = dir;
  o.numSlots = numSlots;
  o.device = device;
  auto b = loadTorchBackend(o);
  if (!b.isOk()) throw std::runtime_error(b.status().toString());
  return std::move(b).value();
}

EngineOptions engineOptions(int64_t numSlots, SchedulerOptions scheduler) {
  EngineOptions o;
  ModelSpec spec;
  spec.name = std::string(1, 'm');  // (not = "m": GCC 12 -Wrestrict false positive)
  spec.backend.modelDir = modelDir();
  spec.backend.numSlots = numSlots;
  o.models.push_back(spec);
  o.scheduler = scheduler;
  return o;
}

void CollectingObserver::onToken(const TokenEvent& event) {
  std::lock_guard lock(mutex_);
  events_.push_back(event);
  cv_.notify_all();
}

void CollectingObserver::onDone(const GenerateResult& result) {
  std::lock_guard lock(mutex_);
  ++doneCalls_;
  result_ = result;
  cv_.notify_all();
}

GenerateResult CollectingObserver::waitDone(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, timeout, [&] { return result_.has_value(); })) {
    ADD_FAILURE() << "request did not finish in time";
    return {};
  }
  return *result_;
}

bool CollectingObserver::waitTokens(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n || result_.has_value(); }) &&
         events_.size() >= n;
}

std::vector<TokenEvent> CollectingObserver::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

int CollectingObserver::doneCalls() const {
  std::lock_guard lock(mutex_);
  return doneCalls_;
}

GenerateRequest tokenRequest(std::vector<int32_t> prompt, SamplingParams params, std::string variant) {
  GenerateRequest r;
  r.promptTokens = std::move(prompt);
  r.sampling = std::move(params);
  r.variant = std::move(variant);
  return r;
}

SamplingParams greedy(int32_t maxNewTokens, bool ignoreEos) {
  SamplingParams p;
  p.temperature = 0.f;
  p.maxNewTokens = maxNewTokens;
  p.ignoreEos = ignoreEos;
  return p;
}

std::vector<int32_t> promptIds(size_t n, uint32_t seed, int32_t vocab) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(1, vocab - 1);
  std::vector<int32_t> ids(n);
  for (auto& t : ids) t = d(rng);
  return ids;
}

std::vector<std::vector<float>> hardLogitRows() {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  constexpr float kMax = std::numeric_limits<float>::max();
  auto random = [](size_t n, uint64_t seed, float scale) {
    std::mt19937_64 rng(seed);
    std::vector<float> v(n);
    for (float& x : v) x = scale * (static_cast<float>(rng() >> 40) / float(1 << 24) * 2.0f - 1.0f);
    return v;
  };
  std::vector<std::vector<float>> rows = {
      {0.5f, 2.0f, -1.0f, 2.0f, 1.0f},             // tie: lowest id
      {kNaN, 0.0f, kNaN, 0.0f},                    // NaN never wins
      {1.0f, kInf, 3.0f, kInf},                    // +inf ties +inf (both count as FLT_MAX)
      {kMax, kInf, 1.0f},                          // FLT_MAX ties +inf: lowest id
      {-kInf, kNaN, -kInf},                        // dead: token 0, -inf
      {kNaN},                                      // dead, one entry
      {3.0f},                                      // one entry: logprob 0
      {-kInf, -kInf, 7.0f, kNaN},                  // one finite value: logprob 0
      {-kMax, kMax, -kInf, 0.0f},                  // extreme spread
      {1e-30f, -1e-30f, 0.0f, -0.0f},              // tiny values, signed zeros
      {100.0f, 100.0f - 1e-5f, 99.0f, -100.0f},    // near tie
  };
  std::vector<float> big = random(50280, 77, 12.0f);
  big[123] = kNaN;
  big[456] = -kInf;
  const auto best = static_cast<size_t>(std::max_element(big.begin(), big.end()) - big.begin());
  big[40000] = big[best];                          // a tie far from the first maximum
  rows.push_back(big);
  std::vector<float> confident = random(4096, 78, 1.0f);
  confident[2000] = 40.0f;                         // p ~ 1 - 1e-14
  rows.push_back(confident);
  return rows;
}

std::vector<SamplingParams> mixedParams() {
  std::vector<SamplingParams> out;
  out.push_back(greedy(14, true));                          // plain greedy
  SamplingParams g = greedy(11, true);
  g.topK = 3;                                               // ignored at temperature 0
  g.topP = 0.5f;
  g.minP = 0.2f;
  g.seed = 4;
  out.push_back(g);
  g = greedy(12, true);
  g.logprobs = 3;                                           // host: top logprobs
  out.push_back(g);
  g = greedy(13, true);
  g.repetitionPenalty = 1.3f;                               // host: penalty
  out.push_back(g);
  for (uint64_t seed : {11, 12, 13, 14, 15}) {              // host: sampled
    SamplingParams p = greedy(10 + static_cast<int32_t>(seed % 4), true);
    p.temperature = 0.6f + 0.1f * static_cast<float>(seed % 5);
    p.topK = seed % 2 ? 20 : 0;
    p.topP = seed % 3 ? 0.9f : 1.0f;
    p.minP = seed == 15 ? 0.05f : 0.0f;
    p.logprobs = static_cast<int32_t>(seed % 3);
    p.seed = seed;
    out.push_back(p);
  }
  out.push_back(greedy(9, true));                           // plain greedy
  return out;
}

}  // namespace mamba::test
