// Engine::loadModel / unloadModel: hot swap under load (requests accepted before the swap finish
// on the model they started with, later ones run on the new one, none fails), adding and
// removing variants, failed loads that change nothing, and the per-variant gauges while two
// schedulers share them.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "server/engine/engine.h"
#include "server/engine/offline.h"
#include "server/metrics/registry.h"
#include "server/metrics/serving_metrics.h"
#include "server/model/model_config.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

namespace fs = std::filesystem;
using test::CollectingObserver;
using namespace std::chrono_literals;

// modelDir()'s shape and tokenizer with other random weights: every prompt means the same to
// both, and their greedy continuations differ.
class OtherWeights {
 public:
  OtherWeights() : dir_(config(), 77) {
    fs::copy_file(fs::path(test::modelDir()) / "tokenizer.json", fs::path(dir_.dir()) / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
  }
  const std::string& dir() const { return dir_.dir(); }

 private:
  static ModelConfig config() {
    auto c = ModelConfig::fromFile((fs::path(test::modelDir()) / "config.json").string());
    if (!c.isOk()) throw std::runtime_error(c.status().toString());
    return *c;
  }
  test::TempModelDir dir_;
};

const OtherWeights& otherWeights() {
  static const OtherWeights other;
  return other;
}

std::vector<int32_t> soloTokens(const std::string& dir, std::span<const int32_t> prompt, const SamplingParams& p) {
  auto backend = test::loadBackend(1, "cpu", dir);
  auto r = generate(*backend, test::tokenizer(), prompt, p);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? r->tokens : std::vector<int32_t>{};
}

ModelSpec specFor(const std::string& dir, const std::string& variant = "dense", int64_t slots = 4) {
  ModelSpec s;
  s.name = std::string(1, 'm');
  s.variant = variant;
  s.backend.modelDir = dir;
  s.backend.numSlots = slots;
  return s;
}

std::shared_ptr<CollectingObserver> submitOk(Engine& e, GenerateRequest r) {
  auto obs = std::make_shared<CollectingObserver>();
  auto h = e.submit(std::move(r), obs);
  EXPECT_TRUE(h.isOk()) << h.status().toString();
  return obs;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(ModelSwap, AcceptedRequestsFinishOnTheOldModelAndLaterOnesRunOnTheNew) {
  metrics::Registry registry;
  auto sm = metrics::ServingMetrics::create(registry);
  ASSERT_TRUE(sm.isOk());
  SchedulerOptions o;
  o.maxBatch = 2;  // 2 running, the rest queued at the swap
  auto created = Engine::create(test::engineOptions(2, o), sm->get());
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  const std::string oldDir = test::modelDir(), newDir = otherWeights().dir();

  std::vector<std::vector<int32_t>> prompts;
  for (uint32_t i = 0; i < 8; ++i) prompts.push_back(test::promptIds(3 + i, 500 + i));
  const SamplingParams p = test::greedy(24, /*ignoreEos=*/true);
  std::vector<std::shared_ptr<CollectingObserver>> before, after;
  for (int i = 0; i < 4; ++i) before.push_back(submitOk(engine, test::tokenRequest(prompts[i], p)));
  ASSERT_TRUE(before[0]->waitTokens(2));  // running, with two of them still queued

  auto swapped = engine.loadModel(specFor(newDir, "dense", 3));
  ASSERT_TRUE(swapped.isOk()) << swapped.status().toString();
  EXPECT_TRUE(swapped->replaced);
  EXPECT_EQ(swapped->previous.path, oldDir);
  EXPECT_EQ(swapped->info.path, newDir);
  EXPECT_EQ(swapped->info.numSlots, 3);
  EXPECT_GT(swapped->loadSeconds, 0.0);
  ASSERT_EQ(engine.listModels().size(), 1u);
  EXPECT_EQ(engine.listModels()[0].path, newDir);

  for (int i = 4; i < 8; ++i) after.push_back(submitOk(engine, test::tokenRequest(prompts[i], p)));
  for (int i = 0; i < 4; ++i) {
    GenerateResult r = before[i]->waitDone();
    ASSERT_TRUE(r.status.isOk()) << "request " << i << ": " << r.status.toString();
    EXPECT_EQ(r.tokens, soloTokens(oldDir, prompts[i], p)) << "request " << i << " (accepted before the swap)";
  }
  for (int i = 0; i < 4; ++i) {
    GenerateResult r = after[i]->waitDone();
    ASSERT_TRUE(r.status.isOk()) << "request " << 4 + i << ": " << r.status.toString();
    EXPECT_EQ(r.tokens, soloTokens(newDir, prompts[4 + i], p)) << "request " << 4 + i << " (after the swap)";
  }
  EXPECT_NE(soloTokens(oldDir, prompts[0], p), soloTokens(newDir, prompts[0], p)) << "the two models must differ";

  // The old scheduler stops once idle and withdraws its part of the gauges.
  ASSERT_TRUE(eventually([&] { return engine.retiringModels() == 0; }));
  auto mm = (*sm)->forModel("m", "dense");
  ASSERT_TRUE(mm.isOk());
  EXPECT_EQ((*mm)->slotsCapacity->value(), 3.0);
  EXPECT_TRUE(eventually([&] { return (*mm)->running->value() == 0.0 && (*mm)->slotsUsed->value() == 0.0; }));
  EXPECT_EQ((*mm)->waiting->value(), 0.0);
  EXPECT_EQ((*mm)->requestsByCode[static_cast<size_t>(StatusCode::kOk)]->value(), 8.0);
  const std::string exposition = registry.exposeText();
  EXPECT_NE(exposition.find("mamba_model_loads_total{model=\"m\",variant=\"dense\",result=\"replaced\"} 1"),
            std::string::npos)
      << exposition;
}

TEST(ModelSwap, SwapsUnderContinuousLoadFailNoRequest) {
  SchedulerOptions o;
  o.maxBatch = 4;
  auto created = Engine::create(test::engineOptions(4, o));
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  std::atomic<bool> stop{false};
  std::atomic<int> submitted{0};
  std::vector<std::shared_ptr<CollectingObserver>> observers;
  std::mutex mutex;
  std::thread client([&] {
    for (uint32_t i = 0; !stop.load(); ++i) {
      auto obs = submitOk(engine, test::tokenRequest(test::promptIds(2 + i % 5, 900 + i), test::greedy(4, true)));
      {
        std::lock_guard lock(mutex);
        observers.push_back(obs);
      }
      ++submitted;
      std::this_thread::sleep_for(2ms);
    }
  });
  const std::string dirs[2] = {otherWeights().dir(), test::modelDir()};
  for (int k = 0; k < 4; ++k) {
    auto r = engine.loadModel(specFor(dirs[k % 2]));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_TRUE(r->replaced);
    const int seen = submitted.load();
    ASSERT_TRUE(eventually([&] { return submitted.load() >= seen + 3; }));
  }
  stop = true;
  client.join();
  std::lock_guard lock(mutex);
  ASSERT_GE(observers.size(), 12u);
  for (size_t i = 0; i < observers.size(); ++i) {
    GenerateResult r = observers[i]->waitDone();
    EXPECT_TRUE(r.status.isOk()) << "request " << i << ": " << r.status.toString();
    EXPECT_EQ(r.tokens.size(), 4u) << "request " << i;
  }
  EXPECT_TRUE(engine.waitIdle(30s));
}

TEST(ModelSwap, LoadAddsAVariantAndUnloadRemovesIt) {
  auto created = Engine::create(test::engineOptions(2));
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  auto added = engine.loadModel(specFor(otherWeights().dir(), "compacted", 2));
  ASSERT_TRUE(added.isOk()) << added.status().toString();
  EXPECT_FALSE(added->replaced);
  ASSERT_EQ(engine.listModels().size(), 2u);
  EXPECT_EQ(engine.listModels()[1].variant, "compacted");

  const auto prompt = test::promptIds(5, 42);
  const SamplingParams p = test::greedy(6, true);
  GenerateResult viaVariant = submitOk(engine, test::tokenRequest(prompt, p, "compacted"))->waitDone();
  ASSERT_TRUE(viaVariant.status.isOk()) << viaVariant.status.toString();
  EXPECT_EQ(viaVariant.variant, "compacted");
  EXPECT_EQ(viaVariant.tokens, soloTokens(otherWeights().dir(), prompt, p));
  GenerateResult viaDefault = submitOk(engine, test::tokenRequest(prompt, p))->waitDone();
  EXPECT_EQ(viaDefault.variant, "dense");

  EXPECT_EQ(engine.unloadModel("m", "masked").code(), StatusCode::kNotFound);
  EXPECT_EQ(engine.unloadModel("x", "dense").code(), StatusCode::kNotFound);
  ASSERT_TRUE(engine.unloadModel("m", "compacted").isOk());
  auto gone = engine.submit(test::tokenRequest(prompt, p, "compacted"), std::make_shared<CollectingObserver>());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  const Status last = engine.unloadModel("m", "dense");
  EXPECT_EQ(last.code(), StatusCode::kFailedPrecondition) << last.toString();
  EXPECT_NE(last.message().find("default model"), std::string::npos) << last.toString();
  ASSERT_TRUE(submitOk(engine, test::tokenRequest(prompt, p))->waitDone().status.isOk());
}

TEST(ModelSwap, AFailedLoadChangesNothing) {
  auto created = Engine::create(test::engineOptions(2));
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  ModelSpec missing = specFor("/nonexistent/model-dir");
  auto r = engine.loadModel(missing);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("/nonexistent/model-dir"), std::string::npos) << r.status().toString();
  ModelSpec badDtype = specFor(otherWeights().dir());
  badDtype.backend.dtype = "fp8";
  r = engine.loadModel(badDtype);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  EXPECT_NE(r.status().message().find("fp8"), std::string::npos) << r.status().toString();
  r = engine.loadModel(specFor(otherWeights().dir(), "sparse"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  EXPECT_NE(r.status().message().find("variant"), std::string::npos) << r.status().toString();
  EXPECT_NE(r.status().message().find("sparse"), std::string::npos) << r.status().toString();
  ASSERT_EQ(engine.listModels().size(), 1u);
  EXPECT_EQ(engine.listModels()[0].path, test::modelDir());
  EXPECT_EQ(engine.retiringModels(), 0);
  ASSERT_TRUE(submitOk(engine, test::tokenRequest(test::promptIds(4, 3), test::greedy(3, true)))->waitDone().status.isOk());

  engine.beginDrain();
  r = engine.loadModel(specFor(otherWeights().dir()));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().toString();
}

TEST(ModelSwap, ShutdownEndsTheRequestsOfARetiringModel) {
  SchedulerOptions o;
  o.maxNewTokensLimit = 1 << 24;
  auto created = Engine::create(test::engineOptions(1, o));
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  auto endless = submitOk(engine, test::tokenRequest(test::promptIds(3, 8), test::greedy(1 << 24, true)));
  ASSERT_TRUE(endless->waitTokens(1));
  ASSERT_TRUE(engine.loadModel(specFor(otherWeights().dir())).isOk());
  EXPECT_EQ(engine.retiringModels(), 1);
  engine.shutdown();
  GenerateResult r = endless->waitDone();
  EXPECT_EQ(r.status.code(), StatusCode::kCancelled) << r.status.toString();
  EXPECT_EQ(engine.retiringModels(), 0);
}

}  // namespace
}  // namespace mamba
