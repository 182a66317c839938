// Shared fixtures of the engine tests: a real model directory, a byte-level tokenizer, and an
// observer that records what the engine reports.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/engine/engine.h"
#include "server/engine/model_backend.h"
#include "server/model/model_config.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/common/test_support.h"

namespace mamba::test {

// A random-weight model of `config` (randomWeights(config, seed)) written as an HF checkpoint,
// with a byte-level tokenizer.json, into a fresh temporary directory that the object removes.
class TempModelDir {
 public:
  TempModelDir(const ModelConfig& config, uint64_t seed);
  const std::string& dir() const { return dir_; }

 private:
  testing::TempDir tmp_;
  std::string dir_;  // tmp_.path()
};

// A model directory for the whole test process: models/mamba2-ref when the repository has it,
// otherwise the random "tiny" preset (seed 1, vocab 512, EOS 0) in a TempModelDir written once
// and removed at exit (also when the environment variable MAMBA_TEST_TINY_MODEL is set).
const std::string& modelDir();

// The model's tokenizer (modelDir()/tokenizer.json).
const Tokenizer& tokenizer();

// A freshly loaded fp32 backend on `dir` (default modelDir()) and `device`; throws on errors.
std::unique_ptr<ModelBackend> loadBackend(int64_t numSlots = 4, const std::string& device = "cpu",
                                          const std::string& dir = modelDir());

// EngineOptions serving modelDir() as model "m" (variant "dense") with `numSlots` slots.
EngineOptions engineOptions(int64_t numSlots, SchedulerOptions scheduler = {});

// Records every event of one request; wait*() block with a timeout (60 s default).
class CollectingObserver : public GenerateObserver {
 public:
  void onToken(const TokenEvent& event) override;
  void onDone(const GenerateResult& result) override;

  // The final result; fails the test (and returns a default) on timeout.
  GenerateResult waitDone(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Blocks until at least n tokens arrived (or done). Returns false on timeout.
  bool waitTokens(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  std::vector<TokenEvent> events() const;
  int doneCalls() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<TokenEvent> events_;
  std::optional<GenerateResult> result_;
  int doneCalls_ = 0;
};

// A request for token-id `prompt` with `params`, on the default model and the given variant.
GenerateRequest tokenRequest(std::vector<int32_t> prompt, SamplingParams params, std::string variant = "");

// Greedy (temperature 0) parameters.
SamplingParams greedy(int32_t maxNewTokens, bool ignoreEos = false);

// Deterministic pseudo-random prompt of `n` ids in [0, vocab).
std::vector<int32_t> promptIds(size_t n, uint32_t seed, int32_t vocab = 256);

// Logits rows that stress a greedy reduction: NaN, +-inf, exact ties (also +inf with
// FLT_MAX), dead rows (every entry -inf or NaN), single entries, extreme spreads, a
// 50280-wide random row with a far tie, and a near-certain row (logprob ~ -1e-14).
std::vector<std::vector<float>> hardLogitRows();

// Ten requests' parameters (EOS ignored, no stops): plain greedy ones (the backend's device
// pick, some with top-k/top-p/min-p/seed that temperature 0 ignores), greedy ones that still
// need the host (top logprobs, repetition penalty) and seeded sampled ones; 7 need host rows.
std::vector<SamplingParams> mixedParams();

}  // namespace mamba::test
