// Shared helpers of the pruning tests: small random models (any G, N, bias) whose parameters
// are all perturbed (no norm weight is exactly 1, no bias exactly 0), a byte-level tokenizer,
// and tensor comparison.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
#include "tests/common/byte_tokenizer.h"
#include "tests/common/tensor_compare.h"
#include "tests/common/test_support.h"

namespace mamba::pruning::testing {

struct SmallModel {
  ModelConfig config;
  ModelWeights weights;
};

// The "tiny" preset shape (Dm 64, Di 128, P 16, H 8, Q 16, vocab 512) with G groups, N states
// per layer, optional in_proj/out_proj bias, `layers` layers.
inline SmallModel smallModel(int64_t groups, int64_t stateSize, bool bias, int64_t layers = 2, uint64_t seed = 7) {
  SmallModel m;
  m.config = presetConfig("tiny").value();
  m.config.nLayer = layers;
  m.config.nGroups = groups;
  m.config.stateSizes.assign(static_cast<size_t>(layers), stateSize);
  m.config.projBias = bias;
  EXPECT_TRUE(m.config.validate().isOk());
  m.weights = randomWeights(m.config, seed);
  torch::manual_seed(static_cast<uint64_t>(seed));
  auto jitter = [](torch::Tensor& t, double s) {
    if (t.defined()) t = t + torch::randn_like(t) * s;
  };
  for (LayerWeights& l : m.weights.layers) {
    l.inProj = l.inProj * 5.0;  // activations of order 1, so every state matters
    jitter(l.inProjBias, 0.1);
    jitter(l.outProjBias, 0.1);
    jitter(l.norm, 0.1);
    jitter(l.gatedNorm, 0.1);
    jitter(l.D, 0.1);
  }
  jitter(m.weights.normF, 0.1);
  return m;
}

// Deterministic pseudo-random token ids in [0, vocab).
inline std::vector<int32_t> randomIds(size_t n, int32_t vocab, uint64_t seed) {
  std::vector<int32_t> ids(n);
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& id : ids) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(vocab));
  }
  return ids;
}


using mamba::testing::maxRelErr;  // max |a - b| / max |b|

// A per-test temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("pruning_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mamba::testing::removeTree(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { mamba::testing::removeTree(path_); }
  std::string str() const { return path_.string(); }
  std::filesystem::path path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mamba::pruning::testing
