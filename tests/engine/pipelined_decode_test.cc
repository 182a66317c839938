// Pipelined decode (SchedulerOptions::pipelineDecode) against the synchronous scheduler: the
// same workloads (concurrent greedy requests of different lengths, EOS, stop tokens and stop
// strings mid-stream, a cancel mid-stream, sampled and top-logprob requests that switch steps
// to the synchronous path, requests arriving while others decode, more requests than slots)
// give every request the same events and result, on the fake model (with the base class's
// two phases and with the fake's deferred, device-like ones) and on the real model (there the
// logprobs to rounding: see the last test). The fake checks that no slot is released, prefilled or decoded while a started step advances it.
#include "server/engine/scheduler.h"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>

#include "server/metrics/registry.h"
#include "server/metrics/serving_metrics.h"
#include "tests/common/byte_tokenizer.h"
#include "tests/engine/fake_backend.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

using test::CollectingObserver;
using test::FakeBackend;
using test::RecordingBackend;

constexpr int64_t kVocab = 64;
constexpr int32_t kEndless = 1 << 30;

enum class Mode { kSync, kPipelined, kDeferred };  // kDeferred: pipelined on the deferred fake

const char* modeName(Mode m) {
  switch (m) {
    case Mode::kSync: return "sync";
    case Mode::kPipelined: return "pipelined";
    case Mode::kDeferred: return "pipelined-deferred";
  }
  return "?";
}

// Id b = byte b: stop strings can be made of the fake's tokens.
const Tokenizer& byteTokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto t = Tokenizer::fromJson(testing::byteLevelTokenizerJson(), "bytes");
    if (!t.isOk()) throw std::runtime_error(t.status().toString());
    return std::move(t).value();
  }();
  return *tok;
}

// One request of a workload.
struct Spec {
  std::vector<int32_t> prompt;
  SamplingParams params;
  size_t cancelAt = 0;     // the observer cancels the request at its cancelAt-th token
  size_t spawnAt = 0;      // ... and submits request `spawn` at its spawnAt-th token
  int spawn = -1;
  bool initial = true;     // false: submitted only when spawned
};

// Calls `onNth(n)` after the n-th token event (on the scheduler thread).
class HookedObserver : public CollectingObserver {
 public:
  void onToken(const TokenEvent& event) override {
    CollectingObserver::onToken(event);
    if (onNth) onNth(++tokens_);
  }
  std::function<void(size_t)> onNth;

 private:
  size_t tokens_ = 0;
};

struct Outcome {
  std::vector<std::vector<TokenEvent>> events;  // per request
  std::vector<GenerateResult> results;
  int64_t slotViolations = 0, maxInFlight = 0, previousRowInputs = 0;
  // Metrics.
  double generationTokens = 0, promptTokens = 0, ok = 0, cancelled = 0;
  uint64_t ttft = 0, tpot = 0, interToken = 0, decodeSteps = 0, batchSizes = 0;
  double batchRows = 0;
};

std::shared_ptr<GenerateJob> makeJob(const Spec& s, std::shared_ptr<GenerateObserver> obs) {
  auto j = std::make_shared<GenerateJob>();
  j->prompt = s.prompt;
  j->sampling = s.params;
  j->observer = std::move(obs);
  j->submitted = SteadyClock::now();
  return j;
}

// Runs `specs` on a scheduler over `backend` (whose first prefill is gated, so that the initial
// requests, queued meanwhile behind a one-token request, are admitted together).
Outcome runWorkload(const std::vector<Spec>& specs, Mode mode, std::unique_ptr<ModelBackend> inner,
                    const Tokenizer* tokenizer, const FakeBackend* fake) {
  auto rec = std::make_unique<RecordingBackend>(std::move(inner), /*gated=*/true);
  RecordingBackend* backend = rec.get();
  metrics::Registry registry;
  auto sm = metrics::ServingMetrics::create(registry);
  EXPECT_TRUE(sm.isOk());
  const metrics::ModelMetrics* m = *(*sm)->forModel("m", "dense");
  SchedulerOptions o;
  o.pipelineDecode = mode != Mode::kSync;
  o.prefillChunkTokens = 4;
  o.samplingThreads = 0;
  auto scheduler = std::make_unique<Scheduler>(std::move(rec), tokenizer, o, m);

  std::vector<std::shared_ptr<HookedObserver>> obs;
  std::vector<std::shared_ptr<GenerateJob>> jobs;
  for (const Spec& s : specs) {
    obs.push_back(std::make_shared<HookedObserver>());
    jobs.push_back(makeJob(s, obs.back()));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    obs[i]->onNth = [&, i](size_t n) {
      if (n == specs[i].cancelAt) jobs[i]->cancelled = true;
      if (n == specs[i].spawnAt) {
        jobs[static_cast<size_t>(specs[i].spawn)]->submitted = SteadyClock::now();
        EXPECT_TRUE(scheduler->enqueue(jobs[static_cast<size_t>(specs[i].spawn)]).isOk());
      }
    };
  }
  Spec gate{{1}, test::greedy(1, true)};
  EXPECT_TRUE(scheduler->enqueue(makeJob(gate, std::make_shared<CollectingObserver>())).isOk());
  backend->waitEntered();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].initial) {
      EXPECT_TRUE(scheduler->enqueue(jobs[i]).isOk());
    }
  }
  backend->open();

  Outcome out;
  for (auto& ob : obs) {
    out.results.push_back(ob->waitDone());
    out.events.push_back(ob->events());
  }
  EXPECT_TRUE(scheduler->waitIdle(SteadyClock::now() + std::chrono::seconds(30)));
  if (fake) {
    out.slotViolations = fake->slotViolations();
    out.maxInFlight = fake->maxInFlight();
    out.previousRowInputs = fake->previousRowInputs();
  }
  scheduler.reset();  // joins the scheduler thread (and frees the backend) before the metrics go
  out.generationTokens = m->generationTokens->value();
  out.promptTokens = m->promptTokens->value();
  out.ok = m->requestsByCode[static_cast<int>(StatusCode::kOk)]->value();
  out.cancelled = m->requestsByCode[static_cast<int>(StatusCode::kCancelled)]->value();
  out.ttft = m->ttft->snapshot().count;
  out.tpot = m->tpot->snapshot().count;
  out.interToken = m->interToken->snapshot().count;
  out.decodeSteps = m->decodeStep->snapshot().count;
  out.batchSizes = m->batchSize->snapshot().count;
  out.batchRows = m->batchSize->snapshot().sum;
  return out;
}

Outcome runOnFake(const std::vector<Spec>& specs, Mode mode, int64_t slots, std::vector<int32_t> eos) {
  auto fake = std::make_unique<FakeBackend>(kVocab, slots, std::move(eos));
  fake->setDeferredDecode(mode == Mode::kDeferred);
  const FakeBackend* raw = fake.get();
  return runWorkload(specs, mode, std::move(fake), &byteTokenizer(), raw);
}

// Every request's events and result (timing aside) equal; logprobs bit for bit unless
// `logprobTolerance` > 0.
void expectSameOutcome(const Outcome& want, const Outcome& got, float logprobTolerance = 0.f) {
  ASSERT_EQ(want.results.size(), got.results.size());
  for (size_t i = 0; i < want.results.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    const GenerateResult &a = want.results[i], &b = got.results[i];
    EXPECT_EQ(a.status.code(), b.status.code()) << b.status.toString();
    EXPECT_EQ(a.finishReason, b.finishReason);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.timing.generatedTokens, b.timing.generatedTokens);
    EXPECT_EQ(a.timing.promptTokens, b.timing.promptTokens);
    ASSERT_EQ(want.events[i].size(), got.events[i].size());
    for (size_t j = 0; j < want.events[i].size(); ++j) {
      const TokenEvent &x = want.events[i][j], &y = got.events[i][j];
      EXPECT_EQ(x.token, y.token) << "event " << j;
      EXPECT_EQ(x.textDelta, y.textDelta) << "event " << j;
      if (logprobTolerance == 0.f) {
        EXPECT_EQ(x.logprob, y.logprob) << "event " << j;
        EXPECT_EQ(x.topLogprobs, y.topLogprobs) << "event " << j;
      } else {
        EXPECT_NEAR(x.logprob, y.logprob, logprobTolerance) << "event " << j;
        EXPECT_EQ(x.topLogprobs.size(), y.topLogprobs.size()) << "event " << j;
      }
    }
  }
  EXPECT_EQ(want.generationTokens, got.generationTokens);
  EXPECT_EQ(want.promptTokens, got.promptTokens);
  EXPECT_EQ(want.ok, got.ok);
  EXPECT_EQ(want.cancelled, got.cancelled);
  EXPECT_EQ(want.ttft, got.ttft);
  EXPECT_EQ(want.tpot, got.tpot);
  EXPECT_EQ(want.interToken, got.interToken);
}

// Every decode-step observation has its batch size, and the batch sizes add up to the tokens
// that decode steps produced (all but each request's first, which its prefill produced).
void expectStepMetricsConsistent(const Outcome& o) {
  EXPECT_EQ(o.decodeSteps, o.batchSizes);
  double fromDecode = 0;  // (the gate request's one token came from its prefill)
  for (const GenerateResult& r : o.results) fromDecode += r.tokens.empty() ? 0 : static_cast<double>(r.tokens.size() - 1);
  EXPECT_EQ(o.batchRows, fromDecode);
}

SamplingParams sampled(int32_t maxNew, uint64_t seed, float temperature) {
  SamplingParams p = test::greedy(maxNew, true);
  p.temperature = temperature;
  p.seed = seed;
  return p;
}

std::string bytesOf(std::span<const int32_t> ids) {
  std::string s;
  for (int32_t id : ids) s += byteTokenizer().tokenBytes(id);
  return s;
}

struct Workload {
  std::vector<Spec> specs;
  std::vector<int32_t> eos;
};

Workload fakeWorkload() {
  auto prompt = [](size_t n, uint32_t seed) { return test::promptIds(n, seed, kVocab); };
  auto expected = [](const std::vector<int32_t>& p, size_t n) { return FakeBackend::expected(p, n, kVocab); };
  Workload w;
  std::vector<Spec>& s = w.specs;
  s.push_back({prompt(3, 1), test::greedy(9, true)});                  // 0: plain, length
  s.push_back({prompt(2, 2), test::greedy(1, true)});                  // 1: its prefill's token only
  s.push_back({prompt(5, 3), test::greedy(2, true)});                  // 2: one decode step
  const std::vector<int32_t> p3 = prompt(4, 4);
  w.eos = {expected(p3, 16)[5]};
  s.push_back({p3, test::greedy(16)});                                 // 3: EOS mid-stream
  const std::vector<int32_t> p4 = prompt(6, 5);
  SamplingParams stopToken = test::greedy(16, true);
  stopToken.stopTokenIds = {expected(p4, 16)[3]};
  s.push_back({p4, stopToken});                                        // 4: stop token mid-stream
  const std::vector<int32_t> p5 = prompt(3, 6);
  SamplingParams stopString = test::greedy(16, true);
  stopString.stopStrings = {bytesOf(std::span<const int32_t>(expected(p5, 16)).subspan(6, 2))};
  s.push_back({p5, stopString});                                       // 5: stop string mid-stream
  Spec cancel{prompt(2, 7), test::greedy(kEndless, true)};
  cancel.cancelAt = 4;
  s.push_back(cancel);                                                 // 6: cancelled at token 4
  s.push_back({prompt(3, 8), sampled(7, 11, 0.9f)});                   // 7: sampled (host rows)
  SamplingParams top = test::greedy(5, true);
  top.logprobs = 2;
  s.push_back({prompt(4, 9), top});                                    // 8: greedy with top logprobs
  Spec spawner{prompt(2, 10), test::greedy(24, true)};
  spawner.spawnAt = 6;
  spawner.spawn = 10;
  s.push_back(spawner);                                                // 9: submits 10 at token 6
  Spec late{prompt(5, 11), test::greedy(6, true)};
  late.initial = false;
  late.spawnAt = 3;
  late.spawn = 11;
  s.push_back(late);                                                   // 10: arrives mid-stream, submits 11
  Spec lateSampled{prompt(3, 12), sampled(5, 3, 1.0f)};
  lateSampled.params.topK = 5;
  lateSampled.initial = false;
  s.push_back(lateSampled);                                            // 11: sampled, arrives late
  s.push_back({prompt(2, 13), test::greedy(12)});                      // 12: may meet the EOS
  s.push_back({prompt(11, 14), test::greedy(8, true)});                // 13: prompt in 3 chunks
  for (int i = 0; i < 3; ++i) s.push_back({prompt(2, 20 + static_cast<uint32_t>(i)), test::greedy(3 + 4 * i, true)});
  return w;
}

TEST(PipelinedDecode, SameResultsAsSynchronousOnTheFake) {
  const Workload w = fakeWorkload();
  for (int64_t slots : {2, 5, 16}) {
    SCOPED_TRACE("slots " + std::to_string(slots));
    const Outcome sync = runOnFake(w.specs, Mode::kSync, slots, w.eos);
    // The synchronous run is what it should be.
    const auto& r = sync.results;
    auto expected = [&](size_t i, size_t n) { return FakeBackend::expected(w.specs[i].prompt, n, kVocab); };
    EXPECT_EQ(r[0].tokens, expected(0, 9));
    EXPECT_EQ(r[0].finishReason, FinishReason::kLength);
    EXPECT_EQ(r[1].tokens.size(), 1u);
    EXPECT_EQ(r[2].tokens, expected(2, 2));
    EXPECT_EQ(r[3].finishReason, FinishReason::kStop);
    EXPECT_EQ(r[3].tokens.back(), w.eos[0]);
    EXPECT_EQ(r[4].finishReason, FinishReason::kStop);
    EXPECT_EQ(r[4].tokens.back(), w.specs[4].params.stopTokenIds[0]);
    EXPECT_EQ(r[5].finishReason, FinishReason::kStopString);
    EXPECT_EQ(r[6].status.code(), StatusCode::kCancelled);
    EXPECT_EQ(r[6].tokens, expected(6, 4));
    EXPECT_EQ(r[7].tokens.size(), 7u);
    EXPECT_EQ(r[9].tokens, expected(9, 24));
    EXPECT_EQ(r[10].tokens, expected(10, 6));
    EXPECT_EQ(r[11].tokens.size(), 5u);
    EXPECT_EQ(r[13].tokens, expected(13, 8));
    EXPECT_EQ(sync.slotViolations, 0);
    EXPECT_EQ(sync.maxInFlight, 0);  // decode() only
    expectStepMetricsConsistent(sync);
    for (Mode mode : {Mode::kPipelined, Mode::kDeferred}) {
      SCOPED_TRACE(modeName(mode));
      const Outcome piped = runOnFake(w.specs, mode, slots, w.eos);
      expectSameOutcome(sync, piped);
      EXPECT_EQ(piped.slotViolations, 0);
      EXPECT_EQ(piped.maxInFlight, 2);         // it did pipeline
      EXPECT_GT(piped.previousRowInputs, 0);   // with tokens fed from the previous step
      expectStepMetricsConsistent(piped);
    }
  }
}

// One plain greedy request at a time (the c = 1 case): after its prefill every step is
// pipelined, each fed from the previous one.
TEST(PipelinedDecode, SingleGreedyRequestFeedsEveryStepFromTheDevice) {
  const std::vector<Spec> specs = {{test::promptIds(4, 30, kVocab), test::greedy(20, true)}};
  for (Mode mode : {Mode::kPipelined, Mode::kDeferred}) {
    SCOPED_TRACE(modeName(mode));
    const Outcome o = runOnFake(specs, mode, 1, {});
    EXPECT_EQ(o.results[0].tokens, FakeBackend::expected(specs[0].prompt, 20, kVocab));
    // 19 tokens from decode steps: the first step takes its token from the host, the
    // next 18 from the step before; none is started for the 20th token.
    EXPECT_EQ(o.previousRowInputs, 18);
    EXPECT_EQ(o.decodeSteps, 19u);
    EXPECT_EQ(o.slotViolations, 0);
  }
}

// A cancel seen in the token that a drain handles (the pipeline is drained because a sampled
// request arrived) acts before the synchronous step that follows, as it would on the
// synchronous path: the request ends with the same tokens either way.
TEST(PipelinedDecode, CancelSeenInADrainedTokenActsBeforeTheNextStep) {
  Spec greedy{test::promptIds(3, 40, kVocab), test::greedy(kEndless, true)};
  greedy.spawnAt = 5;  // the sampled request arrives with token 5 ...
  greedy.spawn = 1;
  greedy.cancelAt = 6;  // ... and token 6, which the drain for it hands out, cancels
  Spec late{test::promptIds(2, 41, kVocab), sampled(4, 9, 1.0f)};
  late.initial = false;
  const std::vector<Spec> specs = {greedy, late};
  const Outcome sync = runOnFake(specs, Mode::kSync, 4, {});
  EXPECT_EQ(sync.results[0].status.code(), StatusCode::kCancelled);
  EXPECT_EQ(sync.results[0].tokens, FakeBackend::expected(specs[0].prompt, 6, kVocab));
  for (Mode mode : {Mode::kPipelined, Mode::kDeferred}) {
    SCOPED_TRACE(modeName(mode));
    expectSameOutcome(sync, runOnFake(specs, mode, 4, {}));
  }
}

std::shared_ptr<GenerateJob> greedyJob(std::vector<int32_t> prompt, int32_t maxNew, std::shared_ptr<GenerateObserver> obs) {
  return makeJob(Spec{std::move(prompt), test::greedy(maxNew, true)}, std::move(obs));
}

// A step that fails at its finish fails its sequences (the step after it, already started
// with their tokens, is dropped); their slots come back, and the scheduler goes on.
TEST(PipelinedDecode, FailedStepFailsItsSequencesAndFreesTheirSlots) {
  auto inner = std::make_unique<FakeBackend>(kVocab, 2);
  FakeBackend* fake = inner.get();
  fake->setDeferredDecode(true);
  Scheduler s(std::move(inner), nullptr, SchedulerOptions{}, nullptr);
  auto a = std::make_shared<CollectingObserver>(), b = std::make_shared<CollectingObserver>();
  const std::vector<int32_t> pa = {1, 2, 3}, pb = {4, 5};
  ASSERT_TRUE(s.enqueue(greedyJob(pa, kEndless, a)).isOk());
  ASSERT_TRUE(s.enqueue(greedyJob(pb, kEndless, b)).isOk());
  ASSERT_TRUE(a->waitTokens(3));
  ASSERT_TRUE(b->waitTokens(3));
  fake->failNextDecode();
  GenerateResult ra = a->waitDone(), rb = b->waitDone();
  EXPECT_EQ(ra.status.code(), StatusCode::kInternal);
  EXPECT_EQ(ra.finishReason, FinishReason::kError);
  EXPECT_EQ(rb.status.code(), StatusCode::kInternal);
  // Every token they got before is right.
  EXPECT_EQ(ra.tokens, FakeBackend::expected(pa, ra.tokens.size(), kVocab));
  EXPECT_EQ(rb.tokens, FakeBackend::expected(pb, rb.tokens.size(), kVocab));
  ASSERT_TRUE(s.waitIdle(SteadyClock::now() + std::chrono::seconds(30)));
  auto c = std::make_shared<CollectingObserver>(), d = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(s.enqueue(greedyJob({6}, 5, c)).isOk());
  ASSERT_TRUE(s.enqueue(greedyJob({7}, 5, d)).isOk());
  EXPECT_EQ(c->waitDone().tokens, FakeBackend::expected(std::vector<int32_t>{6}, 5, kVocab));
  EXPECT_EQ(d->waitDone().tokens, FakeBackend::expected(std::vector<int32_t>{7}, 5, kVocab));
  EXPECT_EQ(fake->slotViolations(), 0);
}

// Shutdown with a step in flight drains it before cancelling: nothing is left running and
// every slot comes back.
TEST(PipelinedDecode, ShutdownDrainsTheStepInFlight) {
  for (bool deferred : {false, true}) {
    SCOPED_TRACE(deferred ? "deferred" : "base");
    auto inner = std::make_unique<FakeBackend>(kVocab, 3);
    FakeBackend* fake = inner.get();
    fake->setDeferredDecode(deferred);
    Scheduler s(std::move(inner), nullptr, SchedulerOptions{}, nullptr);
    std::vector<std::shared_ptr<CollectingObserver>> obs;
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < 3; ++i) {
      obs.push_back(std::make_shared<CollectingObserver>());
      prompts.push_back({i + 1, i + 2});
      ASSERT_TRUE(s.enqueue(greedyJob(prompts.back(), kEndless, obs.back())).isOk());
    }
    for (auto& o : obs) ASSERT_TRUE(o->waitTokens(4));
    s.shutdown();
    for (size_t i = 0; i < obs.size(); ++i) {
      GenerateResult r = obs[i]->waitDone();
      EXPECT_EQ(r.status.code(), StatusCode::kCancelled);
      EXPECT_EQ(r.tokens, FakeBackend::expected(prompts[i], r.tokens.size(), kVocab));
      EXPECT_EQ(obs[i]->doneCalls(), 1);
    }
    EXPECT_EQ(s.inFlight(), 0);
    EXPECT_EQ(fake->freeSlots(), 3);
    EXPECT_EQ(fake->slotViolations(), 0);
  }
}

// The real model on the CPU (the base class's two phases): the same tokens, text and finish
// reasons with pipelining on and off, for greedy requests of several lengths, a stop string,
// sampled requests and more requests than slots. The logprobs agree to rounding only: the
// CPU's matrix products round differently at different batch sizes, and the two modes do not
// always batch the same rows (a step carries the row of a sequence that stopped on the
// previous token; a held slot delays an admission), just as two interleavings of the
// synchronous scheduler do not.
TEST(PipelinedDecodeOnRealModel, SameResultsAsSynchronous) {
  const Tokenizer& tok = test::tokenizer();
  auto prompt = [&](const std::string& text) { return tok.encode(text); };
  std::vector<Spec> specs;
  specs.push_back({prompt("ROMEO:"), test::greedy(12, true)});
  specs.push_back({prompt("JULIET: O Romeo"), test::greedy(5, true)});
  specs.push_back({prompt("First Citizen:\nBefore we proceed"), test::greedy(1, true)});
  SamplingParams stop = test::greedy(16, true);
  stop.stopStrings = {"e"};
  specs.push_back({prompt("KING HENRY:"), stop});
  specs.push_back({prompt("MENENIUS:"), sampled(6, 5, 0.8f)});
  Spec spawner{prompt("All:\nSpeak, speak."), test::greedy(10, true)};
  spawner.spawnAt = 4;
  spawner.spawn = 6;
  specs.push_back(spawner);
  Spec late{prompt("CORIOLANUS:"), test::greedy(7)};
  late.initial = false;
  specs.push_back(late);
  auto run = [&](Mode mode) { return runWorkload(specs, mode, test::loadBackend(3), &tok, nullptr); };
  const Outcome sync = run(Mode::kSync);
  for (const GenerateResult& r : sync.results) EXPECT_TRUE(r.status.isOk()) << r.status.toString();
  EXPECT_EQ(sync.results[0].tokens.size(), 12u);
  const Outcome piped = run(Mode::kPipelined);
  expectSameOutcome(sync, piped, 1e-4f);
  expectStepMetricsConsistent(piped);
}

}  // namespace
}  // namespace mamba
