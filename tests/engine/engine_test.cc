// The Engine on a real model (models/mamba2-ref, or the random tiny preset): batching does not
// change results, request lifecycle (cancel, deadline, queue bound, drain, shutdown), chunked
// prefill, scoring, stop conditions, seeded sampling, validation and metrics.
#include "server/engine/engine.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <thread>

#include "server/engine/offline.h"
#include "server/engine/sampling/sampler.h"
#include "server/metrics/registry.h"
#include "server/metrics/serving_metrics.h"
#include "server/tokenizer/utf8_stream_decoder.h"
#include "tests/common/test_support.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

using test::CollectingObserver;
using namespace std::chrono_literals;

// What one request produces alone: offline generate() in a slot of its own backend.
GenerationResult solo(std::span<const int32_t> prompt, const SamplingParams& p) {
  static std::unique_ptr<ModelBackend> backend = test::loadBackend(1);
  auto r = generate(*backend, test::tokenizer(), prompt, p);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? std::move(r).value() : GenerationResult{};
}

// Long enough that only a cancel, a deadline or a shutdown ends it, however fast the machine.
constexpr int32_t kEndless = 1 << 24;

std::unique_ptr<Engine> makeEngine(int64_t slots, SchedulerOptions o = {}, metrics::ServingMetrics* m = nullptr) {
  if (o.maxNewTokensLimit == SchedulerOptions{}.maxNewTokensLimit) o.maxNewTokensLimit = kEndless;
  auto e = Engine::create(test::engineOptions(slots, o), m);
  EXPECT_TRUE(e.isOk()) << e.status().toString();
  return e.isOk() ? std::move(e).value() : nullptr;
}

struct Submitted {
  std::shared_ptr<CollectingObserver> obs = std::make_shared<CollectingObserver>();
  std::shared_ptr<RequestHandle> handle;
};

Submitted submitOk(Engine& e, GenerateRequest r) {
  Submitted s;
  auto h = e.submit(std::move(r), s.obs);
  EXPECT_TRUE(h.isOk()) << h.status().toString();
  if (h.isOk()) s.handle = *h;
  return s;
}

TEST(Engine, ThirtyTwoConcurrentGreedyRequestsMatchTheirSoloResults) {
  metrics::Registry registry;
  auto sm = metrics::ServingMetrics::create(registry);
  ASSERT_TRUE(sm.isOk());
  SchedulerOptions o;
  o.maxBatch = 32;
  auto engine = makeEngine(32, o, sm->get());
  ASSERT_NE(engine, nullptr);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Submitted> subs;
  for (uint32_t i = 0; i < 32; ++i) {
    prompts.push_back(test::promptIds(1 + (i * 7) % 33, 1000 + i));
    subs.push_back(submitOk(*engine, test::tokenRequest(prompts.back(), test::greedy(12))));
  }
  for (size_t i = 0; i < subs.size(); ++i) {
    GenerateResult r = subs[i].obs->waitDone();
    GenerationResult alone = solo(prompts[i], test::greedy(12));
    ASSERT_TRUE(r.status.isOk()) << r.status.toString();
    EXPECT_EQ(r.tokens, alone.tokens) << "request " << i;
    EXPECT_EQ(r.text, alone.text) << "request " << i;
    EXPECT_EQ(r.finishReason, alone.finishReason);
  }
  auto mm = (*sm)->forModel("m", "dense");
  const auto batches = (*mm)->batchSize->snapshot();
  ASSERT_GT(batches.count, 0u);
  EXPECT_GT(batches.sum / static_cast<double>(batches.count), 2.0) << "decode steps were not batched";
}

TEST(Engine, ChunkedPrefillOfALongPromptMatchesUnchunked) {
  const auto prompt = test::promptIds(200, 77);
  const GenerationResult alone = solo(prompt, test::greedy(12, true));
  for (auto [chunk, budget] : {std::pair<int64_t, int64_t>{7, 7}, {13, 40}}) {
    SchedulerOptions o;
    o.prefillChunkTokens = chunk;
    o.maxPrefillTokensPerStep = budget;
    auto engine = makeEngine(2, o);
    ASSERT_NE(engine, nullptr);
    // A second request prefills concurrently, so chunks of both share prefill batches.
    Submitted a = submitOk(*engine, test::tokenRequest(prompt, test::greedy(12, true)));
    Submitted b = submitOk(*engine, test::tokenRequest(test::promptIds(50, 78), test::greedy(12, true)));
    EXPECT_EQ(a.obs->waitDone().tokens, alone.tokens) << "chunk " << chunk;
    EXPECT_EQ(b.obs->waitDone().tokens, solo(test::promptIds(50, 78), test::greedy(12, true)).tokens);
  }
}

TEST(Engine, CancellationMidGenerationFreesTheSlot) {
  auto engine = makeEngine(1);
  Submitted a = submitOk(*engine, test::tokenRequest({5, 6, 7}, test::greedy(kEndless, true)));
  ASSERT_TRUE(a.obs->waitTokens(3));
  a.handle->cancel();
  GenerateResult ra = a.obs->waitDone();
  EXPECT_EQ(ra.status.code(), StatusCode::kCancelled);
  EXPECT_EQ(ra.finishReason, FinishReason::kCancelled);
  EXPECT_GE(ra.tokens.size(), 3u);
  EXPECT_LT(ra.tokens.size(), static_cast<size_t>(kEndless));
  // The only slot is free again: the next request runs and matches its solo result.
  Submitted b = submitOk(*engine, test::tokenRequest({8, 9}, test::greedy(8)));
  GenerateResult rb = b.obs->waitDone();
  EXPECT_TRUE(rb.status.isOk());
  EXPECT_EQ(rb.tokens, solo(std::vector<int32_t>{8, 9}, test::greedy(8)).tokens);
  a.handle->cancel();  // after completion: harmless
  EXPECT_EQ(a.obs->doneCalls(), 1);
}

TEST(Engine, DeadlineExceededWhileRunningAndWhileQueued) {
  auto engine = makeEngine(1);
  GenerateRequest ra = test::tokenRequest({1, 2}, test::greedy(kEndless, true));
  ra.deadline = std::chrono::steady_clock::now() + 300ms;
  Submitted a = submitOk(*engine, ra);
  ASSERT_TRUE(a.obs->waitTokens(1));
  GenerateRequest rb = test::tokenRequest({3}, test::greedy(4));
  rb.deadline = std::chrono::steady_clock::now() + 20ms;
  Submitted b = submitOk(*engine, rb);  // waits for the slot that a holds
  GenerateResult resB = b.obs->waitDone();
  EXPECT_EQ(resB.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(resB.finishReason, FinishReason::kDeadline);
  EXPECT_TRUE(resB.tokens.empty());
  GenerateResult resA = a.obs->waitDone();
  EXPECT_EQ(resA.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(resA.finishReason, FinishReason::kDeadline);
  EXPECT_GE(resA.tokens.size(), 1u);
  EXPECT_GE(resA.timing.e2eSeconds, 0.29);
}

TEST(Engine, FullQueueIsResourceExhausted) {
  SchedulerOptions o;
  o.maxQueued = 2;
  auto engine = makeEngine(1, o);
  Submitted a = submitOk(*engine, test::tokenRequest({1}, test::greedy(kEndless, true)));
  ASSERT_TRUE(a.obs->waitTokens(1));  // a holds the slot; the queue is empty
  Submitted b = submitOk(*engine, test::tokenRequest({2}, test::greedy(2)));
  Submitted c = submitOk(*engine, test::tokenRequest({3}, test::greedy(2)));
  auto d = engine->submit(test::tokenRequest({4}, test::greedy(2)), std::make_shared<CollectingObserver>());
  EXPECT_EQ(d.status().code(), StatusCode::kResourceExhausted) << d.status().toString();
  a.handle->cancel();
  EXPECT_TRUE(b.obs->waitDone().status.isOk());
  EXPECT_TRUE(c.obs->waitDone().status.isOk());
}

TEST(Engine, DrainRefusesNewWorkWhileInFlightRequestsFinish) {
  auto engine = makeEngine(2);
  Submitted a = submitOk(*engine, test::tokenRequest({1, 2, 3}, test::greedy(64, true)));
  ASSERT_TRUE(a.obs->waitTokens(1));
  engine->beginDrain();
  EXPECT_TRUE(engine->draining());
  auto refused = engine->submit(test::tokenRequest({4}, test::greedy(2)), std::make_shared<CollectingObserver>());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  ScoreRequest sr;
  sr.context = "a";
  sr.continuations = {"b"};
  EXPECT_EQ(engine->score(sr).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(engine->waitIdle(30s));
  GenerateResult r = a.obs->waitDone(0ms);
  EXPECT_TRUE(r.status.isOk());
  EXPECT_EQ(r.tokens.size(), 64u);
}

TEST(Engine, ShutdownCancelsInFlightRequests) {
  auto engine = makeEngine(1);
  Submitted a = submitOk(*engine, test::tokenRequest({1}, test::greedy(kEndless, true)));
  Submitted b = submitOk(*engine, test::tokenRequest({2}, test::greedy(4)));
  ASSERT_TRUE(a.obs->waitTokens(1));
  engine->shutdown();
  EXPECT_EQ(a.obs->waitDone(0ms).status.code(), StatusCode::kCancelled);
  EXPECT_EQ(b.obs->waitDone(0ms).status.code(), StatusCode::kCancelled);
  EXPECT_EQ(engine->submit(test::tokenRequest({3}, test::greedy(1)), std::make_shared<CollectingObserver>()).status().code(),
            StatusCode::kUnavailable);
  engine->shutdown();
}

TEST(Engine, StopTokenIdsAndStopStrings) {
  auto engine = makeEngine(2);
  const std::vector<int32_t> prompt = test::promptIds(12, 5);
  const GenerationResult alone = solo(prompt, test::greedy(40, true));
  ASSERT_EQ(alone.tokens.size(), 40u);
  // Stop id: the first generated token (from the third on) not seen before it.
  size_t j = 2;
  while (std::find(alone.tokens.begin(), alone.tokens.begin() + static_cast<long>(j), alone.tokens[j]) !=
         alone.tokens.begin() + static_cast<long>(j)) {
    ++j;
  }
  SamplingParams p = test::greedy(40, true);
  p.stopTokenIds = {alone.tokens[j]};
  GenerateResult r = submitOk(*engine, test::tokenRequest(prompt, p)).obs->waitDone();
  EXPECT_EQ(r.finishReason, FinishReason::kStop);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(alone.tokens.begin(), alone.tokens.begin() + static_cast<long>(j) + 1));

  // Stop string: two bytes of the solo output; generation ends on the token that completes
  // its first occurrence and the text stops right before it.
  std::string bytes;
  std::vector<size_t> ends;  // bytes after each token
  for (int32_t t : alone.tokens) ends.push_back((bytes += test::tokenizer().tokenBytes(t)).size());
  const std::string stop = bytes.substr(10, 2);
  const size_t at = bytes.find(stop);
  const size_t last = static_cast<size_t>(std::lower_bound(ends.begin(), ends.end(), at + 2) - ends.begin());
  p = test::greedy(40, true);
  p.stopStrings = {stop};
  Submitted s = submitOk(*engine, test::tokenRequest(prompt, p));
  r = s.obs->waitDone();
  EXPECT_EQ(r.finishReason, FinishReason::kStopString);
  EXPECT_EQ(r.tokens.size(), last + 1);
  Utf8StreamDecoder utf8;
  EXPECT_EQ(r.text, utf8.push(bytes.substr(0, at)) + utf8.finish());
  std::string joined;
  for (const TokenEvent& e : s.obs->events()) joined += e.textDelta;
  EXPECT_EQ(joined, r.text);
}

TEST(Engine, SeededSamplingIsReproducibleAndBatchIndependent) {
  auto engine = makeEngine(4);
  SamplingParams p;
  p.temperature = 0.9f;
  p.topK = 40;
  p.topP = 0.95f;
  p.seed = 1234;
  p.maxNewTokens = 24;
  p.ignoreEos = true;
  const std::vector<int32_t> prompt = test::promptIds(9, 42);
  std::vector<Submitted> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(submitOk(*engine, test::tokenRequest(prompt, p)));
  SamplingParams other = p;
  other.seed = 99;
  Submitted diff = submitOk(*engine, test::tokenRequest(prompt, other));
  const GenerationResult alone = solo(prompt, p);
  for (auto& s : subs) EXPECT_EQ(s.obs->waitDone().tokens, alone.tokens);
  EXPECT_NE(diff.obs->waitDone().tokens, alone.tokens);
}

// What one request produces alone, token by token with its logprobs: the host sampler on
// every full logits row (offline generate()'s loop, without stops: `p` must ignore EOS and
// have no stop ids or strings). The engine may instead take a greedy row's token from the
// backend's device reduction; on CPU that must be bit-identical.
struct Reference {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<std::pair<int32_t, float>>> tops;
};

Reference reference(std::span<const int32_t> prompt, const SamplingParams& p) {
  static std::unique_ptr<ModelBackend> backend = test::loadBackend(1);
  const size_t vocab = static_cast<size_t>(std::min<int64_t>(backend->info().vocabSize, test::tokenizer().vocabSize()));
  Reference ref;
  Sampler sampler(p);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;
  int32_t slot = *backend->acquireSlot();
  PrefillItem item{prompt, slot, false};
  EXPECT_TRUE(backend->prefillLogits(std::span<const PrefillItem>(&item, 1), &logits).isOk());
  for (int32_t i = 0; i < p.maxNewTokens; ++i) {
    if (i > 0) {
      const int32_t last = ref.tokens.back();
      EXPECT_TRUE(backend->decodeLogits(std::span<const int32_t>(&last, 1), std::span<const int32_t>(&slot, 1), &logits).isOk());
    }
    Sampler::Result r = sampler.sample(std::span<const float>(logits).first(vocab), history);
    history.push_back(r.token);
    ref.tokens.push_back(r.token);
    ref.logprobs.push_back(r.logprob);
    ref.tops.push_back(r.top);
  }
  backend->releaseSlot(slot);
  return ref;
}

// The events match the reference: the same tokens and top ids; logprobs to 1e-5 (the batch
// and the solo run compute the logits in differently shaped matmuls, which moves them by a
// few fp32 ulps; the device pick itself is bit-exact, see TorchBackendRows).
void expectEventsMatch(const std::vector<TokenEvent>& events, const Reference& ref, const std::string& what) {
  ASSERT_EQ(events.size(), ref.tokens.size()) << what;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].token, ref.tokens[i]) << what << " token " << i;
    EXPECT_NEAR(events[i].logprob, ref.logprobs[i], 1e-5) << what << " token " << i;
    ASSERT_EQ(events[i].topLogprobs.size(), ref.tops[i].size()) << what << " token " << i;
    for (size_t j = 0; j < ref.tops[i].size(); ++j) {
      EXPECT_EQ(events[i].topLogprobs[j].first, ref.tops[i][j].first) << what << " token " << i;
      EXPECT_NEAR(events[i].topLogprobs[j].second, ref.tops[i][j].second, 1e-5) << what << " token " << i;
    }
  }
}

// Submits every request of test::mixedParams() at once: each matches what it produces alone.
TEST(Engine, MixedGreedyAndSampledBatchMatchesEachRequestAlone) {
  const std::vector<SamplingParams> params = test::mixedParams();
  SchedulerOptions o;
  o.maxBatch = static_cast<int64_t>(params.size());
  auto engine = makeEngine(static_cast<int64_t>(params.size()), o);
  ASSERT_NE(engine, nullptr);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Submitted> subs;
  for (size_t i = 0; i < params.size(); ++i) {
    prompts.push_back(test::promptIds(2 + (i * 5) % 17, 900 + static_cast<uint32_t>(i)));
    subs.push_back(submitOk(*engine, test::tokenRequest(prompts.back(), params[i])));
  }
  for (size_t i = 0; i < subs.size(); ++i) {
    GenerateResult r = subs[i].obs->waitDone();
    ASSERT_TRUE(r.status.isOk()) << r.status.toString();
    const Reference ref = reference(prompts[i], params[i]);
    EXPECT_EQ(r.tokens, ref.tokens) << "request " << i;
    const GenerationResult alone = solo(prompts[i], params[i]);
    EXPECT_EQ(r.tokens, alone.tokens) << "request " << i;
    EXPECT_EQ(r.text, alone.text) << "request " << i;
    expectEventsMatch(subs[i].obs->events(), ref, "request " + std::to_string(i));
  }
}

// Direct computation of lm-evaluation-harness loglikelihood: one prefillScore over
// context ++ continuation (minus the last token), summing the continuation positions.
ContinuationScore direct(const std::vector<int32_t>& ctx, const std::vector<int32_t>& cont) {
  static std::unique_ptr<ModelBackend> backend = test::loadBackend(1);
  std::vector<int32_t> all = ctx;
  all.insert(all.end(), cont.begin(), cont.end());
  auto slot = backend->acquireSlot();
  PrefillItem item{std::span<const int32_t>(all).first(all.size() - 1), *slot, false};
  auto scored = backend->prefillScore(item, std::span<const int32_t>(all).subspan(1));
  backend->releaseSlot(*slot);
  EXPECT_TRUE(scored.isOk());
  ContinuationScore s;
  s.isGreedy = true;
  for (size_t i = ctx.size() - 1; i < all.size() - 1; ++i) {
    s.logprob += (*scored)[i].logprob;
    s.isGreedy = s.isGreedy && (*scored)[i].isGreedy;
  }
  s.numTokens = static_cast<int64_t>(cont.size());
  return s;
}

// The continuation that is the argmax over the model's whole vocabulary at every step (the
// harness's "greedy"; generation may sample from a smaller range, the tokenizer's ids).
std::vector<int32_t> argmaxContinuation(std::vector<int32_t> ctx, size_t n) {
  static std::unique_ptr<ModelBackend> backend = test::loadBackend(1);
  std::vector<int32_t> out;
  std::vector<float> logits;
  for (size_t i = 0; i < n; ++i) {
    auto slot = backend->acquireSlot();
    PrefillItem item{ctx, *slot, false};
    EXPECT_TRUE(backend->prefillLogits(std::span<const PrefillItem>(&item, 1), &logits).isOk());
    backend->releaseSlot(*slot);
    const int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(best);
    ctx.push_back(best);
  }
  return out;
}

TEST(Engine, ScoreMatchesADirectComputation) {
  SchedulerOptions o;
  o.prefillChunkTokens = 5;  // chunked scoring, crossing the context boundary mid-chunk
  auto engine = makeEngine(4, o);
  const Tokenizer& tok = test::tokenizer();
  ScoreRequest req;
  req.context = "The quick brown fox";
  const std::vector<int32_t> greedyCont = argmaxContinuation(tok.encode(req.context), 6);
  req.continuations = {" jumps over", " sat", "\xC3\xA9t\xC3\xA9!"};
  auto r = engine->score(req);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->variant, "dense");
  ASSERT_EQ(r->scores.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // Context and continuation are encoded separately, as the harness does.
    ContinuationScore want = direct(tok.encode(req.context), tok.encode(req.continuations[i]));
    EXPECT_NEAR(r->scores[i].logprob, want.logprob, 1e-3 * std::max(1.0, std::abs(want.logprob))) << i;
    EXPECT_EQ(r->scores[i].isGreedy, want.isGreedy) << i;
    EXPECT_EQ(r->scores[i].numTokens, want.numTokens);
    EXPECT_EQ(r->scores[i].numBytes, static_cast<int64_t>(req.continuations[i].size()));
    EXPECT_LT(r->scores[i].logprob, 0.0);
  }
  // Token-id form; the model's own greedy continuation is greedy; an empty context is
  // replaced by EOS.
  ScoreRequest ids;
  ids.contextTokens = tok.encode(req.context);
  ids.continuationTokens = {greedyCont, {7}};
  auto ri = engine->score(ids);
  ASSERT_TRUE(ri.isOk()) << ri.status().toString();
  EXPECT_TRUE(ri->scores[0].isGreedy);
  EXPECT_NEAR(ri->scores[0].logprob, direct(ids.contextTokens, greedyCont).logprob, 1e-3);
  ScoreRequest empty;
  empty.continuations = {"abc"};
  auto re = engine->score(empty);
  ASSERT_TRUE(re.isOk());
  const int32_t eos = engine->listModels()[0].eosTokenIds.at(0);
  EXPECT_NEAR(re->scores[0].logprob, direct({eos}, tok.encode("abc")).logprob, 1e-3);
}

TEST(Engine, BadRequestsNameTheField) {
  SchedulerOptions o;
  o.maxPromptTokens = 64;
  o.maxNewTokensLimit = 100;
  auto engine = makeEngine(1, o);
  const int64_t vocab = engine->listModels()[0].vocabSize;
  struct Case {
    std::string name;
    std::function<void(GenerateRequest&)> mutate;
    StatusCode code;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"empty text", [](auto& r) { r.promptTokens.clear(); r.promptText = ""; }, StatusCode::kInvalidArgument, "prompt"},
      {"no prompt", [](auto& r) { r.promptTokens.clear(); }, StatusCode::kInvalidArgument, "prompt"},
      {"both forms", [](auto& r) { r.promptText = "x"; }, StatusCode::kInvalidArgument, "prompt"},
      {"negative id", [](auto& r) { r.promptTokens[1] = -1; }, StatusCode::kInvalidArgument, "prompt_tokens[1]"},
      {"id too large", [&](auto& r) { r.promptTokens[0] = static_cast<int32_t>(vocab); }, StatusCode::kInvalidArgument, "prompt_tokens[0]"},
      {"too long", [](auto& r) { r.promptTokens.assign(65, 1); }, StatusCode::kInvalidArgument, "prompt"},
      {"temperature", [](auto& r) { r.sampling.temperature = -1; }, StatusCode::kInvalidArgument, "sampling.temperature"},
      {"top_p", [](auto& r) { r.sampling.topP = 0; }, StatusCode::kInvalidArgument, "sampling.top_p"},
      {"max_new_tokens", [](auto& r) { r.sampling.maxNewTokens = 101; }, StatusCode::kInvalidArgument, "sampling.max_new_tokens"},
      {"stop id", [](auto& r) { r.sampling.stopTokenIds = {100000}; }, StatusCode::kInvalidArgument, "sampling.stop_token_ids[0]"},
      {"model", [](auto& r) { r.model = "nope"; }, StatusCode::kNotFound, "nope"},
      {"variant", [](auto& r) { r.variant = "masked"; }, StatusCode::kNotFound, "masked"},
  };
  for (const Case& c : cases) {
    GenerateRequest r = test::tokenRequest({1, 2, 3}, test::greedy(4));
    c.mutate(r);
    auto h = engine->submit(r, std::make_shared<CollectingObserver>());
    ASSERT_FALSE(h.isOk()) << c.name;
    EXPECT_EQ(h.status().code(), c.code) << c.name << ": " << h.status().toString();
    EXPECT_NE(h.status().message().find(c.needle), std::string::npos) << c.name << ": " << h.status().toString();
  }
  EXPECT_EQ(engine->submit(test::tokenRequest({1}, test::greedy(1)), nullptr).status().code(), StatusCode::kInvalidArgument);
  ScoreRequest s;
  s.context = "a";
  EXPECT_NE(engine->score(s).status().message().find("continuations"), std::string::npos);
  s.continuations = {""};
  EXPECT_NE(engine->score(s).status().message().find("continuations[0]"), std::string::npos);
  s.continuations = {"b"};
  s.contextTokens = {static_cast<int32_t>(vocab)};
  EXPECT_NE(engine->score(s).status().message().find("context_tokens[0]"), std::string::npos);
  // Still healthy: a good request succeeds.
  EXPECT_TRUE(submitOk(*engine, test::tokenRequest({1, 2}, test::greedy(3))).obs->waitDone().status.isOk());
}

TEST(Engine, MetricsFollowRequests) {
  metrics::Registry registry;
  auto sm = metrics::ServingMetrics::create(registry);
  ASSERT_TRUE(sm.isOk());
  auto engine = makeEngine(3, {}, sm->get());
  const metrics::ModelMetrics& m = **(*sm)->forModel("m", "dense");
  EXPECT_EQ(m.slotsCapacity->value(), 3.0);
  EXPECT_GT(m.stateBytesPerSequence->value(), 0.0);
  GenerateResult ok = submitOk(*engine, test::tokenRequest({1, 2, 3, 4}, test::greedy(5, true))).obs->waitDone();
  EXPECT_FALSE(engine->submit(test::tokenRequest({}, test::greedy(1)), std::make_shared<CollectingObserver>()).isOk());
  Submitted c = submitOk(*engine, test::tokenRequest({1}, test::greedy(kEndless, true)));
  ASSERT_TRUE(c.obs->waitTokens(3));  // tokens 1-2 come in c's first iteration, 3 after its gauges
  EXPECT_EQ(m.running->value(), 1.0);
  EXPECT_EQ(m.slotsUsed->value(), 1.0);
  c.handle->cancel();
  const size_t cancelledTokens = c.obs->waitDone().tokens.size();
  ASSERT_TRUE(engine->waitIdle(10s));
  EXPECT_EQ(m.requestsByCode[static_cast<int>(StatusCode::kOk)]->value(), 1.0);
  EXPECT_EQ(m.requestsByCode[static_cast<int>(StatusCode::kInvalidArgument)]->value(), 1.0);
  EXPECT_EQ(m.requestsByCode[static_cast<int>(StatusCode::kCancelled)]->value(), 1.0);
  EXPECT_EQ(m.promptTokens->value(), 5.0);
  EXPECT_EQ(m.generationTokens->value(), static_cast<double>(ok.tokens.size() + cancelledTokens));
  EXPECT_EQ(m.ttft->snapshot().count, 2u);
  EXPECT_EQ(m.e2e->snapshot().count, 2u);
  EXPECT_EQ(m.queue->snapshot().count, 2u);
  EXPECT_EQ(m.tpot->snapshot().count, 2u);
  EXPECT_EQ(m.interToken->snapshot().count, ok.tokens.size() + cancelledTokens - 2);
  EXPECT_GE(m.prefillBatch->snapshot().count, 2u);
  EXPECT_GE(m.decodeStep->snapshot().count, 4u);
  EXPECT_EQ(m.decodeStep->snapshot().count, m.batchSize->snapshot().count);
  EXPECT_EQ(m.running->value(), 0.0);
  EXPECT_EQ(m.waiting->value(), 0.0);
  EXPECT_EQ(m.slotsUsed->value(), 0.0);
  EXPECT_NE(registry.exposeText().find("mamba_request_ttft_seconds_count{model=\"m\",variant=\"dense\"} 2"),
            std::string::npos);
  EXPECT_GT(ok.timing.ttftSeconds, 0.0);
  EXPECT_GT(ok.timing.meanTpotSeconds, 0.0);
  EXPECT_EQ(ok.timing.generatedTokens, 5);
  EXPECT_EQ(ok.timing.promptTokens, 4);
}

TEST(Engine, ModelsTokenizerAndCreateErrors) {
  auto engine = makeEngine(2);
  auto models = engine->listModels();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].name, "m");
  EXPECT_EQ(models[0].variant, "dense");
  EXPECT_EQ(models[0].numSlots, 2);
  auto ids = engine->tokenize("", "hi");
  ASSERT_TRUE(ids.isOk());
  EXPECT_EQ(*ids, test::tokenizer().encode("hi"));
  EXPECT_EQ(engine->tokenize("nope", "hi").status().code(), StatusCode::kNotFound);
  GenerateRequest text;
  text.promptText = "Hello";
  text.sampling = test::greedy(5);
  EXPECT_EQ(submitOk(*engine, text).obs->waitDone().tokens,
            solo(test::tokenizer().encode("Hello"), test::greedy(5)).tokens);

  EngineOptions bad = test::engineOptions(1);
  bad.scheduler.maxBatch = 0;
  EXPECT_NE(Engine::create(bad).status().message().find("scheduler.max_batch"), std::string::npos);
  bad = test::engineOptions(1);
  bad.models.push_back(bad.models[0]);
  EXPECT_NE(Engine::create(bad).status().message().find("listed twice"), std::string::npos);
  bad = test::engineOptions(1);
  bad.models[0].backend.modelDir = "/nonexistent/model";
  EXPECT_NE(Engine::create(bad).status().message().find("models[0]"), std::string::npos);
  bad = test::engineOptions(1);
  bad.defaultModel = "other";
  EXPECT_NE(Engine::create(bad).status().message().find("default_model"), std::string::npos);
  bad = test::engineOptions(1);
  bad.cpuThreads = -1;
  EXPECT_NE(Engine::create(bad).status().message().find("engine.cpu_threads"), std::string::npos);
}

TEST(Engine, CpuThreadsSetsLibTorchsIntraOpThreads) {
  const int before = cpuThreads();
  EngineOptions o = test::engineOptions(1);
  o.cpuThreads = 1;
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.isOk()) << engine.status().toString();
  EXPECT_EQ(cpuThreads(), 1);
  // The engine still serves (greedy output as with the default threads).
  const std::vector<int32_t> prompt = {1, 2, 3};
  EXPECT_EQ(submitOk(**engine, test::tokenRequest(prompt, test::greedy(4))).obs->waitDone().tokens,
            solo(prompt, test::greedy(4)).tokens);
  o.cpuThreads = 0;  // 0 leaves the count alone
  ASSERT_TRUE(Engine::create(o).isOk());
  EXPECT_EQ(cpuThreads(), 1);
  setCpuThreads(before);
}

TEST(Engine, ModelWithoutTokenizerServesTokenIds) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mamba-engine-notok-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const auto& f : fs::directory_iterator(test::modelDir())) {
    if (f.path().filename() != "tokenizer.json") fs::copy(f.path(), dir / f.path().filename());
  }
  EngineOptions o = test::engineOptions(1);
  o.models[0].backend.modelDir = dir.string();
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.isOk()) << engine.status().toString();
  GenerateRequest text;
  text.promptText = "Hello";
  auto refused = (*engine)->submit(text, std::make_shared<CollectingObserver>());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->tokenize("", "x").status().code(), StatusCode::kFailedPrecondition);
  GenerateResult r = submitOk(**engine, test::tokenRequest({1, 2}, test::greedy(4, true))).obs->waitDone();
  EXPECT_TRUE(r.status.isOk());
  EXPECT_EQ(r.tokens.size(), 4u);
  EXPECT_TRUE(r.text.empty());
  (*engine)->shutdown();
  testing::removeTree(dir);
}

}  // namespace
}  // namespace mamba
