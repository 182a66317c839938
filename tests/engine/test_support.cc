#include "tests/engine/test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "server/model/checkpoint.h"
#include "server/model/random_init.h"
#include "tests/common/byte_tokenizer.h"

namespace mamba::test {
namespace fs = std::filesystem;


namespace {

// Creates the tiny model once per process and removes it at exit.
class TinyModel {
 public:
  TinyModel() {
    std::string tmpl = (fs::temp_directory_path() / "mamba-engine-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    auto config = presetConfig("tiny");
    if (!config.isOk()) throw std::runtime_error(config.status().toString());
    Status st = saveHfCheckpoint(*config, randomWeights(*config, 1), dir_);
    if (!st.isOk()) throw std::runtime_error(st.toString());
    std::ofstream(fs::path(dir_) / "tokenizer.json") << testing::byteLevelTokenizerJson();
  }
  ~TinyModel() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace

const std::string& modelDir() {
  static const std::string dir = [] {
    const fs::path ref = fs::path(MAMBA_SOURCE_DIR) / "models" / "mamba2-ref";
    const bool forceTiny = std::getenv("MAMBA_TEST_TINY_MODEL") != nullptr;
    if (!forceTiny && fs::exists(ref / "config.json") && fs::exists(ref / "tokenizer.json")) return ref.string();
    static TinyModel tiny;
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

std::unique_ptr<ModelBackend> loadBackend(int64_t numSlots) {
  BackendOptions o;
  o.modelDir = modelDir();
  o.numSlots = numSlots;
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

}  // namespace mamba::test
