// On the GPU (label gpu; scripts/gpu_test.sh): TorchBackend's asynchronous two-phase decode
// (tokens fed on the device from the previous step's greedy picks, outputs through per-step
// pinned buffers and an event) gives bit for bit what decode() gives, with the rows in the
// previous step's order (one copy kernel) and permuted (index kernels); and the scheduler
// gives every request the same tokens and logprobs with pipelining on and off. The test with
// "Tpot" in its name also prints the scheduler's time per output token both ways (c = 1).
// Engine::loadModel hot-swaps CUDA models while the scheduler captures new decode graphs,
// and no request fails.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "server/engine/scheduler.h"
#include "server/model/random_init.h"
#include "tests/common/tensor_compare.h"
#include "tests/engine/fake_backend.h"
#include "tests/engine/test_support.h"
#include "tests/engine/two_phase_trace.h"

namespace mamba {
namespace {

using test::CollectingObserver;
using test::RecordingBackend;

std::unique_ptr<ModelBackend> cudaBackend(int64_t slots) { return test::loadBackend(slots, "cuda"); }

class GpuEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// A compacted checkpoint with unaligned state sizes (13 and 7 states), loaded by the serving
// loader on CUDA (served padded to 16 and 8, server/model/state_padding.h) and on the CPU (not
// padded): both report the checkpoint's sizes, CUDA holds the padded state, and the logits of a
// ragged prefill and four decode steps of fixed tokens agree (fp32). (It once died in its
// temporary directory's removal: see removeTree in tests/common/test_support.h.)
TEST_F(GpuEngineTest, UnalignedStateSizesAreServedPaddedWithTheSameLogits) {
  ModelConfig c = presetConfig("tiny").value();
  c.stateSizes = {13, 7};
  const test::TempModelDir model(c, 5);
  auto cpu = test::loadBackend(3, "cpu", model.dir()), gpu = test::loadBackend(3, "cuda", model.dir());
  EXPECT_EQ(gpu->info().stateSizes, (std::vector<int64_t>{13, 7}));
  EXPECT_EQ(cpu->info().stateSizes, gpu->info().stateSizes);
  const int64_t H = c.nHeads, P = c.headDim;  // SSM state bytes: (13 + 7) vs (16 + 8) states
  EXPECT_EQ(gpu->info().stateBytesPerSequence - cpu->info().stateBytesPerSequence, H * P * (24 - 20) * 4 +
                                                                                      2 * (24 - 20) * c.convKernel * 4);
  const int64_t V = cpu->info().vocabSize;
  const std::vector<int32_t> p0 = test::promptIds(21, 3), p1 = test::promptIds(9, 4), p2 = test::promptIds(30, 5);
  const std::vector<PrefillItem> items = {{p0, 0, false}, {p1, 1, false}, {p2, 2, false}};
  const std::vector<RowOutput> rows(3, RowOutput::kLogits);
  auto compare = [&](const StepOutputs& a, const StepOutputs& b, const std::string& what) {
    ASSERT_EQ(a.logits.size(), static_cast<size_t>(3 * V));
    ASSERT_EQ(b.logits.size(), a.logits.size());
    torch::Tensor ta = torch::from_blob(const_cast<float*>(a.logits.data()), {3, V}).clone();
    torch::Tensor tb = torch::from_blob(const_cast<float*>(b.logits.data()), {3, V}).clone();
    EXPECT_LE(testing::maxRelErr(tb, ta), 1e-4) << what;
  };
  StepOutputs oc, og;
  ASSERT_TRUE(cpu->prefill(items, RowRequest{rows, 0}, &oc).isOk());
  ASSERT_TRUE(gpu->prefill(items, RowRequest{rows, 0}, &og).isOk());
  compare(oc, og, "prefill");
  const std::vector<int32_t> slots = {0, 1, 2};
  for (int step = 0; step < 4; ++step) {
    const std::vector<int32_t> tokens = {step + 3, 2 * step + 40, 3 * step + 7};
    ASSERT_TRUE(cpu->decode(tokens, slots, RowRequest{rows, 0}, &oc).isOk());
    ASSERT_TRUE(gpu->decode(tokens, slots, RowRequest{rows, 0}, &og).isOk());
    compare(oc, og, "decode step " + std::to_string(step));
  }
}

TEST_F(GpuEngineTest, TwoPhaseDecodeMatchesDecode) {
  for (bool rotate : {false, true}) {
    SCOPED_TRACE(rotate ? "rows permuted" : "rows in order");
    auto a = cudaBackend(4), b = cudaBackend(4);
    const int32_t greedyVocab =
        static_cast<int32_t>(std::min<int64_t>(a->info().vocabSize, test::tokenizer().vocabSize()));
    test::expectSameTraces(test::runWithDecode(*a, 9, greedyVocab, rotate),
                           test::runTwoPhase(*b, 9, greedyVocab, rotate));
  }
}

struct GreedyRun {
  std::vector<std::vector<TokenEvent>> events;
  double seconds = 0;  // first token of the first request to the last one's end
};

// `n` greedy requests of `maxNew` tokens, admitted together behind a gated one-token request,
// so that both modes decode the same batches (every request ends at its known length).
GreedyRun runGreedy(bool pipelined, size_t n, int32_t maxNew) {
  auto rec = std::make_unique<RecordingBackend>(cudaBackend(static_cast<int64_t>(n) + 1), /*gated=*/true);
  RecordingBackend* backend = rec.get();
  SchedulerOptions o;
  o.pipelineDecode = pipelined;
  Scheduler s(std::move(rec), &test::tokenizer(), o, nullptr);
  auto job = [](std::vector<int32_t> prompt, int32_t max, std::shared_ptr<GenerateObserver> obs) {
    auto j = std::make_shared<GenerateJob>();
    j->prompt = std::move(prompt);
    j->sampling = test::greedy(max, true);
    j->observer = std::move(obs);
    j->submitted = SteadyClock::now();
    return j;
  };
  EXPECT_TRUE(s.enqueue(job({1}, 1, std::make_shared<CollectingObserver>())).isOk());
  backend->waitEntered();
  std::vector<std::shared_ptr<CollectingObserver>> obs;
  for (size_t i = 0; i < n; ++i) {
    obs.push_back(std::make_shared<CollectingObserver>());
    EXPECT_TRUE(s.enqueue(job(test::promptIds(3 + i, 700 + static_cast<uint32_t>(i)), maxNew, obs.back())).isOk());
  }
  backend->open();
  GreedyRun r;
  double tpot = 0;
  for (auto& o2 : obs) {
    GenerateResult res = o2->waitDone();
    EXPECT_TRUE(res.status.isOk()) << res.status.toString();
    EXPECT_EQ(res.tokens.size(), static_cast<size_t>(maxNew));
    tpot += res.timing.meanTpotSeconds;
    r.events.push_back(o2->events());
  }
  r.seconds = tpot / static_cast<double>(n);
  return r;
}

void expectSameEvents(const GreedyRun& a, const GreedyRun& b) {
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    ASSERT_EQ(a.events[i].size(), b.events[i].size()) << i;
    for (size_t j = 0; j < a.events[i].size(); ++j) {
      EXPECT_EQ(a.events[i][j].token, b.events[i][j].token) << i << " " << j;
      EXPECT_EQ(a.events[i][j].logprob, b.events[i][j].logprob) << i << " " << j;
      EXPECT_EQ(a.events[i][j].textDelta, b.events[i][j].textDelta) << i << " " << j;
    }
  }
}

TEST_F(GpuEngineTest, PipelinedSchedulerMatchesSynchronous) {
  for (size_t n : {1, 6}) {
    SCOPED_TRACE("requests " + std::to_string(n));
    expectSameEvents(runGreedy(false, n, 40), runGreedy(true, n, 40));
  }
}

TEST_F(GpuEngineTest, PipelinedSchedulerTpot) {
  runGreedy(true, 1, 16);  // warm-up: graphs captured, allocator and clocks settled
  const GreedyRun sync = runGreedy(false, 1, 400), piped = runGreedy(true, 1, 400);
  expectSameEvents(sync, piped);
  std::printf("scheduler TPOT at c = 1 (%s): synchronous %.1f us, pipelined %.1f us\n", test::modelDir().c_str(),
              sync.seconds * 1e6, piped.seconds * 1e6);
}

// Requests of changing batch sizes (each new size captures a decode graph on first use) run
// while another thread loads CUDA models: replacing the served variant and adding one. Graph
// captures are thread-local (cuda_graph_decoder.cc), so a load's allocations and launches
// during a capture fail neither; with global capture the load failed (H200, session 19 run2).
TEST_F(GpuEngineTest, HotSwapsDuringGraphCapturesFailNoRequest) {
  EngineOptions eo = test::engineOptions(16);
  eo.models[0].backend.device = "cuda";
  eo.scheduler.maxBatch = 16;
  auto created = Engine::create(eo);
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  Engine& engine = **created;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::pair<std::shared_ptr<CollectingObserver>, size_t>> submitted;
  std::thread client([&] {
    for (uint32_t i = 0; !stop.load(); ++i) {
      const int32_t maxNew = 3 + static_cast<int32_t>((i * 7) % 37);
      auto obs = std::make_shared<CollectingObserver>();
      auto h = engine.submit(test::tokenRequest(test::promptIds(2 + i % 9, 300 + i), test::greedy(maxNew, true),
                                                i % 3 == 2 ? "compacted" : ""),
                             obs);
      if (!h.isOk()) {
        // The compacted variant exists only after the first load below.
        EXPECT_EQ(h.status().code(), StatusCode::kNotFound) << h.status().toString();
        continue;
      }
      std::lock_guard lock(mutex);
      submitted.emplace_back(obs, static_cast<size_t>(maxNew));
      if (submitted.size() % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (int k = 0; k < 6; ++k) {
    ModelSpec spec = eo.models[0];
    spec.variant = k % 2 == 0 ? "compacted" : "dense";
    auto r = engine.loadModel(spec);
    ASSERT_TRUE(r.isOk()) << "load " << k << ": " << r.status().toString();
    EXPECT_EQ(r->replaced, k >= 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  stop = true;
  client.join();
  std::lock_guard lock(mutex);
  ASSERT_GE(submitted.size(), 50u);
  for (size_t i = 0; i < submitted.size(); ++i) {
    GenerateResult r = submitted[i].first->waitDone();
    ASSERT_TRUE(r.status.isOk()) << "request " << i << ": " << r.status.toString();
    EXPECT_EQ(r.tokens.size(), submitted[i].second) << "request " << i;
  }
  EXPECT_TRUE(engine.waitIdle(std::chrono::seconds(60)));
  std::printf("%zu requests across 6 loads of CUDA models, none failed\n", submitted.size());
}

}  // namespace
}  // namespace mamba
