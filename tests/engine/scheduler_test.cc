// The scheduling policy on a deterministic fake model (no LibTorch in the loop): prefill
// budget and chunks, decode interleaving, batch limits, queue bound, FIFO, cancellation,
// deadlines, backend errors, shutdown, the idle poll, and chunked scoring.
#include "server/engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

#include "server/engine/offline.h"
#include "tests/engine/fake_backend.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

using test::CollectingObserver;
using test::FakeBackend;
using test::RecordingBackend;
using Call = RecordingBackend::Call;

constexpr int64_t kVocab = 64;
constexpr int32_t kEndless = 1 << 30;  // only a cancel, an error or a shutdown ends it

struct Fixture {
  RecordingBackend* backend = nullptr;  // owned by the scheduler
  std::unique_ptr<Scheduler> scheduler;
};

Fixture makeScheduler(SchedulerOptions o, int64_t slots, bool gated = false, FakeBackend** fake = nullptr) {
  auto inner = std::make_unique<FakeBackend>(kVocab, slots);
  if (fake) *fake = inner.get();
  auto rec = std::make_unique<RecordingBackend>(std::move(inner), gated);
  Fixture f;
  f.backend = rec.get();
  f.scheduler = std::make_unique<Scheduler>(std::move(rec), nullptr, o, nullptr);
  return f;
}

std::shared_ptr<GenerateJob> job(std::vector<int32_t> prompt, int32_t maxNew,
                                 std::shared_ptr<CollectingObserver> obs) {
  auto j = std::make_shared<GenerateJob>();
  j->prompt = std::move(prompt);
  j->sampling = test::greedy(maxNew);
  j->observer = std::move(obs);
  j->submitted = SteadyClock::now();
  return j;
}

bool idle(Scheduler& s) { return s.waitIdle(SteadyClock::now() + std::chrono::seconds(30)); }

TEST(Scheduler, PrefillRespectsBudgetAndChunksAndMatchesSolo) {
  SchedulerOptions o;
  o.prefillChunkTokens = 4;
  o.maxPrefillTokensPerStep = 6;
  auto f = makeScheduler(o, 8);
  const std::vector<size_t> lens = {10, 3, 7, 1, 12, 5};
  std::vector<std::shared_ptr<CollectingObserver>> obs;
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < lens.size(); ++i) {
    prompts.push_back(test::promptIds(lens[i], 100 + static_cast<uint32_t>(i), kVocab));
    obs.push_back(std::make_shared<CollectingObserver>());
    ASSERT_TRUE(f.scheduler->enqueue(job(prompts[i], 6, obs[i])).isOk());
  }
  for (size_t i = 0; i < lens.size(); ++i) {
    GenerateResult r = obs[i]->waitDone();
    EXPECT_TRUE(r.status.isOk()) << r.status.toString();
    EXPECT_EQ(r.tokens, FakeBackend::expected(prompts[i], 6, kVocab)) << i;
    EXPECT_EQ(r.finishReason, FinishReason::kLength);
    EXPECT_EQ(r.timing.promptTokens, static_cast<int64_t>(lens[i]));
    EXPECT_EQ(r.timing.generatedTokens, 6);
  }
  ASSERT_TRUE(idle(*f.scheduler));
  // Every call within the budget, every chunk within the chunk size; a slot's chunks continue
  // its sequence until a fresh start, and add up to one prompt.
  std::map<int32_t, size_t> seen;  // slot -> prompt tokens since the slot's last fresh start
  auto isPromptLength = [&](size_t n) { return std::find(lens.begin(), lens.end(), n) != lens.end(); };
  size_t calls = 0;
  for (const Call& c : f.backend->calls()) {
    if (c.kind != Call::kPrefill) continue;
    ++calls;
    size_t total = 0;
    for (size_t k = 0; k < c.lengths.size(); ++k) {
      EXPECT_LE(c.lengths[k], 4u);
      total += c.lengths[k];
      if (c.continued[k]) {
        EXPECT_TRUE(seen.count(c.slots[k]));
        seen[c.slots[k]] += c.lengths[k];
      } else {
        if (seen.count(c.slots[k])) {
          EXPECT_TRUE(isPromptLength(seen[c.slots[k]]));
        }
        seen[c.slots[k]] = c.lengths[k];
      }
    }
    EXPECT_LE(total, 6u);
  }
  for (const auto& [slot, n] : seen) EXPECT_TRUE(isPromptLength(n)) << n;
  EXPECT_GE(calls, 7u);  // 38 prompt tokens at <= 6 per iteration
}

TEST(Scheduler, LongPromptNeverStallsDecodeForMoreThanOneChunk) {
  SchedulerOptions o;
  o.prefillChunkTokens = 4;
  o.maxPrefillTokensPerStep = 4;
  auto f = makeScheduler(o, 4);
  auto a = std::make_shared<CollectingObserver>(), b = std::make_shared<CollectingObserver>();
  auto ja = job({1, 2}, kEndless, a), jb = job({3}, kEndless, b);  // run until cancelled
  ASSERT_TRUE(f.scheduler->enqueue(ja).isOk());
  ASSERT_TRUE(f.scheduler->enqueue(jb).isOk());
  ASSERT_TRUE(a->waitTokens(2));
  ASSERT_TRUE(b->waitTokens(2));
  auto longObs = std::make_shared<CollectingObserver>();
  const auto longPrompt = test::promptIds(64, 7, kVocab);
  ASSERT_TRUE(f.scheduler->enqueue(job(longPrompt, 3, longObs)).isOk());
  GenerateResult r = longObs->waitDone();
  EXPECT_EQ(r.tokens, FakeBackend::expected(longPrompt, 3, kVocab));
  ja->cancelled = true;
  jb->cancelled = true;
  EXPECT_EQ(a->waitDone().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(b->waitDone().status.code(), StatusCode::kCancelled);
  // After the first decode, no two prefill calls ever run back to back: each prefill chunk
  // (<= 4 tokens) is followed by a decode step of the running sequences.
  const auto calls = f.backend->calls();
  bool decoding = false, lastWasPrefill = false;
  int chunksOfLong = 0;
  for (const Call& c : calls) {
    if (c.kind == Call::kDecode) {
      decoding = true;
      lastWasPrefill = false;
      continue;
    }
    if (c.lengths.size() == 1 && c.lengths[0] == 4) ++chunksOfLong;
    if (decoding) {
      EXPECT_FALSE(lastWasPrefill) << "two prefill calls without a decode between them";
    }
    lastWasPrefill = true;
  }
  EXPECT_EQ(chunksOfLong, 16);
}

TEST(Scheduler, MaxBatchBoundsDecodeBatch) {
  SchedulerOptions o;
  o.maxBatch = 3;
  auto f = makeScheduler(o, 8, /*gated=*/true);
  std::vector<std::shared_ptr<CollectingObserver>> obs;
  for (int i = 0; i < 7; ++i) {
    obs.push_back(std::make_shared<CollectingObserver>());
    ASSERT_TRUE(f.scheduler->enqueue(job({i + 1, i + 2}, 5, obs.back())).isOk());
    if (i == 0) f.backend->waitEntered();  // the other six queue up meanwhile
  }
  f.backend->open();
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> p = {i + 1, i + 2};
    EXPECT_EQ(obs[static_cast<size_t>(i)]->waitDone().tokens, FakeBackend::expected(p, 5, kVocab));
  }
  size_t maxSeen = 0;
  for (const Call& c : f.backend->calls()) {
    if (c.kind == Call::kDecode) maxSeen = std::max(maxSeen, c.lengths.size());
  }
  EXPECT_LE(maxSeen, 3u);
  EXPECT_GE(maxSeen, 2u);  // and batching did happen
}

TEST(Scheduler, QueueBoundFifoCancelAndDeadlineWhileQueued) {
  SchedulerOptions o;
  o.maxQueued = 3;
  auto f = makeScheduler(o, 1, /*gated=*/true);
  auto a = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(f.scheduler->enqueue(job({1}, 3, a)).isOk());
  f.backend->waitEntered();  // a holds the only slot, stuck in prefill
  auto b = std::make_shared<CollectingObserver>(), c = std::make_shared<CollectingObserver>();
  auto d = std::make_shared<CollectingObserver>(), e = std::make_shared<CollectingObserver>();
  auto jb = job({2}, 3, b), jc = job({3}, 3, c), jd = job({4}, 3, d);
  jc->cancelled = true;                                       // cancelled while queued
  jd->deadline = SteadyClock::now() + std::chrono::milliseconds(1);  // expires while queued
  ASSERT_TRUE(f.scheduler->enqueue(jb).isOk());
  ASSERT_TRUE(f.scheduler->enqueue(jc).isOk());
  ASSERT_TRUE(f.scheduler->enqueue(jd).isOk());
  Status full = f.scheduler->enqueue(job({5}, 3, e));
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted) << full.toString();
  EXPECT_EQ(f.scheduler->inFlight(), 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  f.backend->open();
  EXPECT_TRUE(a->waitDone().status.isOk());
  GenerateResult rb = b->waitDone(), rc = c->waitDone(), rd = d->waitDone();
  EXPECT_TRUE(rb.status.isOk());
  EXPECT_EQ(rc.status.code(), StatusCode::kCancelled);
  EXPECT_EQ(rc.finishReason, FinishReason::kCancelled);
  EXPECT_TRUE(rc.tokens.empty());
  EXPECT_EQ(rd.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(rd.finishReason, FinishReason::kDeadline);
  EXPECT_GT(rd.timing.queueSeconds, 0.0);
  ASSERT_TRUE(idle(*f.scheduler));
  EXPECT_EQ(e->doneCalls(), 0);  // refused requests are never reported through the observer
  // FIFO with one slot: a's prefill, then b's (c and d never ran).
  std::vector<size_t> prefills;
  for (const Call& call : f.backend->calls()) {
    if (call.kind == Call::kPrefill) prefills.push_back(call.lengths.size());
  }
  EXPECT_EQ(prefills, (std::vector<size_t>{1, 1}));
}

TEST(Scheduler, BackendErrorFailsTheBatchAndFreesSlots) {
  FakeBackend* fake = nullptr;
  auto f = makeScheduler({}, 2, false, &fake);
  auto a = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(f.scheduler->enqueue(job({1, 2, 3}, kEndless, a)).isOk());
  ASSERT_TRUE(a->waitTokens(2));
  fake->failNextDecode();
  GenerateResult r = a->waitDone();
  EXPECT_EQ(r.status.code(), StatusCode::kInternal);
  EXPECT_EQ(r.finishReason, FinishReason::kError);
  ASSERT_TRUE(idle(*f.scheduler));
  auto b = std::make_shared<CollectingObserver>(), c = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(f.scheduler->enqueue(job({4}, 4, b)).isOk());
  ASSERT_TRUE(f.scheduler->enqueue(job({5}, 4, c)).isOk());
  EXPECT_TRUE(b->waitDone().status.isOk());
  EXPECT_TRUE(c->waitDone().status.isOk());
}

TEST(Scheduler, IdlePollServesArrivalsAndEndsAtShutdown) {
  // The longest poll window (SchedulerOptions::idleSpinMicros, 1 s): requests arriving while
  // the idle scheduler polls are served, and shutdown ends the poll at once, not at its end.
  SchedulerOptions o;
  o.idleSpinMicros = SchedulerOptions::kMaxIdleSpinMicros;
  auto f = makeScheduler(o, 2);
  for (int i = 0; i < 3; ++i) {
    auto obs = std::make_shared<CollectingObserver>();
    const std::vector<int32_t> prompt = {i + 3, i + 1};
    ASSERT_TRUE(f.scheduler->enqueue(job(prompt, 4, obs)).isOk());
    EXPECT_EQ(obs->waitDone().tokens, FakeBackend::expected(prompt, 4, kVocab)) << i;
    ASSERT_TRUE(idle(*f.scheduler));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the scheduler polls meanwhile
  }
  const auto t0 = SteadyClock::now();
  f.scheduler->shutdown();
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::milliseconds(500));
}

TEST(Scheduler, ShutdownCancelsInFlightAndRefusesNewWork) {
  auto f = makeScheduler({}, 1, /*gated=*/true);
  auto a = std::make_shared<CollectingObserver>(), b = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(f.scheduler->enqueue(job({1}, kEndless, a)).isOk());
  f.backend->waitEntered();
  ASSERT_TRUE(f.scheduler->enqueue(job({2}, 3, b)).isOk());
  std::thread stopper([&] { f.scheduler->shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  f.backend->open();
  stopper.join();
  EXPECT_EQ(a->waitDone().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(b->waitDone().status.code(), StatusCode::kCancelled);
  EXPECT_EQ(a->doneCalls(), 1);
  EXPECT_EQ(f.scheduler->inFlight(), 0);
  EXPECT_EQ(f.scheduler->enqueue(job({3}, 1, std::make_shared<CollectingObserver>())).code(),
            StatusCode::kUnavailable);
  f.scheduler->shutdown();  // idempotent
}

TEST(Scheduler, ScoreIsChunkedAtTheContextBoundary) {
  SchedulerOptions o;
  o.prefillChunkTokens = 3;
  auto f = makeScheduler(o, 2);
  std::vector<int32_t> ctx = test::promptIds(10, 3, kVocab), cont = {5, 6, 7, 8, 9};
  ScoreJob::Item item;
  item.tokens = ctx;
  item.tokens.insert(item.tokens.end(), cont.begin(), cont.end());
  item.contextLen = ctx.size();
  item.numBytes = 5;
  auto sj = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item, item}, std::nullopt);
  ASSERT_TRUE(f.scheduler->enqueueScore(sj).isOk());
  auto r = sj->wait();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->size(), 2u);
  for (const ContinuationScore& s : *r) {
    EXPECT_DOUBLE_EQ(s.logprob, -5.0);  // the fake scores -1 per continuation token
    EXPECT_EQ(s.numTokens, 5);
    EXPECT_EQ(s.numBytes, 5);
  }
  // Per item: plain prefill of inputs [0, 9) in chunks 3,3,3, then scored [9, 14) as 3,2.
  std::map<int32_t, std::vector<std::pair<Call::Kind, size_t>>> bySlot;
  for (const Call& c : f.backend->calls()) {
    for (size_t k = 0; k < c.slots.size(); ++k) bySlot[c.slots[k]].push_back({c.kind, c.lengths[k]});
  }
  const std::vector<std::pair<Call::Kind, size_t>> want = {
      {Call::kPrefill, 3}, {Call::kPrefill, 3}, {Call::kPrefill, 3}, {Call::kScore, 3}, {Call::kScore, 2}};
  ASSERT_EQ(bySlot.size(), 2u);
  for (const auto& [slot, seq] : bySlot) EXPECT_EQ(seq, want) << "slot " << slot;
}

TEST(Scheduler, ScoreDeadlineFailsTheJob) {
  auto f = makeScheduler({}, 1, /*gated=*/true);
  auto a = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(f.scheduler->enqueue(job({1}, 2, a)).isOk());
  f.backend->waitEntered();
  ScoreJob::Item item{{1, 2, 3}, 1, 2};
  auto sj = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item},
                                       SteadyClock::now() + std::chrono::milliseconds(1));
  ASSERT_TRUE(f.scheduler->enqueueScore(sj).isOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  f.backend->open();
  auto r = sj->wait();
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(idle(*f.scheduler));
}

// Each row asks for what its request needs: a plain greedy request the backend's greedy pick
// (kGreedy), a request with top logprobs or sampling its full logits (kLogits), a prefill
// chunk that does not end its prompt nothing (kNone). Both paths give the same logprobs.
TEST(Scheduler, RowOutputsFollowEachRequest) {
  SchedulerOptions o;
  o.prefillChunkTokens = 4;
  auto f = makeScheduler(o, 4, /*gated=*/true);
  auto gateObs = std::make_shared<CollectingObserver>();
  // Slot 0; its first prefill holds the loop until all three below are queued, and it ends in
  // that iteration (its one token comes from the prefill, with or without pipelined decode),
  // so they are admitted together into slots 0, 1, 2.
  ASSERT_TRUE(f.scheduler->enqueue(job({1}, 1, gateObs)).isOk());
  f.backend->waitEntered();
  const std::vector<int32_t> pa = test::promptIds(10, 61, kVocab), pb = test::promptIds(3, 62, kVocab);
  auto a = std::make_shared<CollectingObserver>(), b = std::make_shared<CollectingObserver>(),
       c = std::make_shared<CollectingObserver>();
  auto jb = job(pb, 5, b);
  jb->sampling.logprobs = 2;
  auto jc = job({7, 8}, 5, c);
  jc->sampling.temperature = 1.0f;
  jc->sampling.seed = 3;
  ASSERT_TRUE(f.scheduler->enqueue(job(pa, 5, a)).isOk());  // slot 0
  ASSERT_TRUE(f.scheduler->enqueue(jb).isOk());             // slot 1
  ASSERT_TRUE(f.scheduler->enqueue(jc).isOk());             // slot 2
  f.backend->open();
  GenerateResult ra = a->waitDone(), rb = b->waitDone(), rc = c->waitDone();
  ASSERT_TRUE(ra.status.isOk() && rb.status.isOk() && rc.status.isOk());
  EXPECT_EQ(ra.tokens, FakeBackend::expected(pa, 5, kVocab));
  EXPECT_EQ(rb.tokens, FakeBackend::expected(pb, 5, kVocab));
  EXPECT_EQ(rc.tokens.size(), 5u);
  ASSERT_TRUE(idle(*f.scheduler));

  const std::map<int32_t, RowOutput> want = {{0, RowOutput::kGreedy}, {1, RowOutput::kLogits}, {2, RowOutput::kLogits}};
  std::map<int32_t, std::vector<RowOutput>> prefillRows;
  for (const Call& call : f.backend->calls()) {
    if (call.kind == Call::kScore) continue;
    ASSERT_EQ(call.rows.size(), call.slots.size());
    for (size_t k = 0; k < call.slots.size(); ++k) {
      if (call.kind == Call::kDecode) {
        EXPECT_EQ(call.rows[k], want.at(call.slots[k])) << "slot " << call.slots[k];
      } else {
        prefillRows[call.slots[k]].push_back(call.rows[k]);
      }
    }
  }
  // The gate's one-token prompt, then A's prompt of 10 in chunks 4, 4, 2: only a chunk that
  // ends its prompt yields a token.
  EXPECT_EQ(prefillRows[0], (std::vector<RowOutput>{RowOutput::kGreedy, RowOutput::kNone, RowOutput::kNone,
                                                    RowOutput::kGreedy}));
  EXPECT_EQ(prefillRows[1], std::vector<RowOutput>{RowOutput::kLogits});
  EXPECT_EQ(prefillRows[2], std::vector<RowOutput>{RowOutput::kLogits});
  EXPECT_EQ(prefillRows.size(), 3u);
  // The fake's rows all have the same shape (one 1.0, zeros elsewhere), so the device-side
  // greedy logprob (A) and the host sampler's (B) must be the same number.
  const std::vector<TokenEvent> ea = a->events(), eb = b->events();
  ASSERT_EQ(ea.size(), 5u);
  ASSERT_EQ(eb.size(), 5u);
  const float expected = static_cast<float>(-std::log(1.0 + (kVocab - 1) * std::exp(-1.0)));
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(ea[i].logprob, eb[i].logprob) << i;
    EXPECT_NEAR(ea[i].logprob, expected, 1e-6) << i;
    EXPECT_TRUE(ea[i].topLogprobs.empty());
    EXPECT_EQ(eb[i].topLogprobs.size(), 2u);
  }
}

// On the real model: prompts of different lengths admitted together run as ONE right-padded
// prefill call, and each result equals the request run alone.
TEST(SchedulerOnRealModel, RaggedPromptsPrefillAsOneBatchAndMatchSolo) {
  auto rec = std::make_unique<RecordingBackend>(test::loadBackend(8), /*gated=*/true);
  RecordingBackend* backend = rec.get();
  Scheduler s(std::move(rec), &test::tokenizer(), SchedulerOptions{}, nullptr);
  auto first = std::make_shared<CollectingObserver>();
  ASSERT_TRUE(s.enqueue(job({1}, 2, first)).isOk());
  backend->waitEntered();  // the scheduler is busy: everything below is admitted together
  const std::vector<size_t> lens = {1, 5, 17, 33, 2, 60};
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::shared_ptr<CollectingObserver>> obs;
  for (size_t i = 0; i < lens.size(); ++i) {
    prompts.push_back(test::promptIds(lens[i], 500 + static_cast<uint32_t>(i)));
    obs.push_back(std::make_shared<CollectingObserver>());
    ASSERT_TRUE(s.enqueue(job(prompts[i], 10, obs[i])).isOk());
  }
  backend->open();
  auto alone = test::loadBackend(1);
  for (size_t i = 0; i < lens.size(); ++i) {
    GenerateResult r = obs[i]->waitDone();
    ASSERT_TRUE(r.status.isOk()) << r.status.toString();
    auto want = generate(*alone, test::tokenizer(), prompts[i], test::greedy(10));
    ASSERT_TRUE(want.isOk());
    EXPECT_EQ(r.tokens, want->tokens) << "prompt length " << lens[i];
    EXPECT_EQ(r.text, want->text);
  }
  bool batched = false;
  for (const Call& c : backend->calls()) batched = batched || (c.kind == Call::kPrefill && c.lengths == lens);
  EXPECT_TRUE(batched) << "the six prompts were not prefilled in one call";
}

// Host rows sampled on a worker pool give exactly what the scheduler thread alone gives: the
// same admission (gated) and so the same batches, the same bits in every event.
TEST(SchedulerOnRealModel, ParallelHostSamplingMatchesSerial) {
  const std::vector<SamplingParams> params = test::mixedParams();
  auto run = [&](int32_t threads) {
    SchedulerOptions o;
    o.samplingThreads = threads;
    auto rec = std::make_unique<RecordingBackend>(test::loadBackend(static_cast<int64_t>(params.size()) + 1), true);
    RecordingBackend* backend = rec.get();
    Scheduler s(std::move(rec), &test::tokenizer(), o, nullptr);
    auto first = std::make_shared<CollectingObserver>();
    EXPECT_TRUE(s.enqueue(job({1}, 2, first)).isOk());
    backend->waitEntered();
    std::vector<std::shared_ptr<CollectingObserver>> obs;
    for (size_t i = 0; i < params.size(); ++i) {
      obs.push_back(std::make_shared<CollectingObserver>());
      auto j = job(test::promptIds(2 + (i * 5) % 17, 900 + static_cast<uint32_t>(i)), 0, obs.back());
      j->sampling = params[i];
      EXPECT_TRUE(s.enqueue(j).isOk());
    }
    backend->open();
    std::vector<std::vector<TokenEvent>> events;
    for (auto& o2 : obs) {
      EXPECT_TRUE(o2->waitDone().status.isOk());
      events.push_back(o2->events());
    }
    // The pool had work: some step sampled at least 4 rows on the host.
    size_t maxHostRows = 0;
    for (const Call& c : backend->calls()) {
      maxHostRows = std::max<size_t>(maxHostRows, static_cast<size_t>(std::count(c.rows.begin(), c.rows.end(), RowOutput::kLogits)));
    }
    EXPECT_GE(maxHostRows, 4u);
    return events;
  };
  const auto serial = run(0);
  const auto pooled = run(3);
  ASSERT_EQ(serial.size(), pooled.size());
  for (size_t i = 0; i < serial.size(); ++i) {
    ASSERT_EQ(serial[i].size(), pooled[i].size()) << i;
    ASSERT_EQ(serial[i].size(), static_cast<size_t>(params[i].maxNewTokens)) << i;
    for (size_t j = 0; j < serial[i].size(); ++j) {
      EXPECT_EQ(serial[i][j].token, pooled[i][j].token) << i << " " << j;
      EXPECT_EQ(serial[i][j].textDelta, pooled[i][j].textDelta) << i << " " << j;
      EXPECT_EQ(serial[i][j].logprob, pooled[i][j].logprob) << i << " " << j;
      EXPECT_EQ(serial[i][j].topLogprobs, pooled[i][j].topLogprobs) << i << " " << j;
    }
  }
}

}  // namespace
}  // namespace mamba
