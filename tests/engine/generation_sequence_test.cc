// Token handling of one generate request, on synthetic logits: stop ids, EOS, stop strings,
// max_new_tokens, UTF-8-safe deltas, early endings and the timing record.
#include "server/engine/generation_sequence.h"

#include <gtest/gtest.h>

#include "tests/common/byte_tokenizer.h"
#include "tests/engine/test_support.h"

namespace mamba {
namespace {

using test::CollectingObserver;

const Tokenizer& byteTokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto t = Tokenizer::fromJson(testing::byteLevelTokenizerJson(), "byte-level");
    EXPECT_TRUE(t.isOk()) << t.status().toString();
    return std::move(t).value();
  }();
  return *tok;
}

// Logits that make greedy sampling pick `token`.
std::vector<float> pick(int32_t token) {
  std::vector<float> l(256, 0.f);
  l[static_cast<size_t>(token)] = 5.f;
  return l;
}

struct SeqRun {
  std::shared_ptr<CollectingObserver> obs = std::make_shared<CollectingObserver>();
  std::unique_ptr<GenerationSequence> seq;
};

SeqRun start(SamplingParams p, std::vector<int32_t> eos = {}) {
  SeqRun r;
  auto job = std::make_shared<GenerateJob>();
  job->prompt = {104, 105};
  job->sampling = std::move(p);
  job->observer = r.obs;
  job->submitted = SteadyClock::now();
  r.seq = std::make_unique<GenerationSequence>(job, 0, &byteTokenizer(), std::move(eos), 256, nullptr,
                                               SteadyClock::now());
  r.seq->advancePrompt(2);
  return r;
}

// Feeds the bytes of `text` as tokens until the sequence finishes; returns how many it took.
size_t feed(SeqRun& r, const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) {
    ++n;
    if (r.seq->acceptLogits(pick(c), SteadyClock::now())) break;
  }
  return n;
}

std::string joinedDeltas(const CollectingObserver& obs) {
  std::string s;
  for (const TokenEvent& e : obs.events()) s += e.textDelta;
  return s;
}

TEST(GenerationSequence, TextDeltasKeepUtf8CharactersWhole) {
  SeqRun r = start(test::greedy(3));
  EXPECT_EQ(feed(r, "a\xC3\xA9"), 3u);  // 'a', then é split over two byte tokens
  GenerateResult res = r.obs->waitDone();
  auto ev = r.obs->events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].textDelta, "a");
  EXPECT_EQ(ev[1].textDelta, "");
  EXPECT_EQ(ev[2].textDelta, "\xC3\xA9");
  EXPECT_EQ(res.text, "a\xC3\xA9");
  EXPECT_EQ(res.finishReason, FinishReason::kLength);
  EXPECT_EQ(res.tokens, (std::vector<int32_t>{'a', 0xC3, 0xA9}));
  EXPECT_EQ(ev[0].token, 'a');
  EXPECT_LT(ev[0].logprob, 0.f);
}

TEST(GenerationSequence, TruncatedCharacterAtTheEndBecomesReplacement) {
  SeqRun r = start(test::greedy(2));
  feed(r, "a\xE2");
  EXPECT_EQ(r.obs->waitDone().text, "a\xEF\xBF\xBD");
  EXPECT_EQ(joinedDeltas(*r.obs), "a\xEF\xBF\xBD");
}

TEST(GenerationSequence, StopTokenIdEndsAndFlushesHeldBytes) {
  SamplingParams p = test::greedy(10);
  p.stopTokenIds = {'!'};
  p.stopStrings = {"xyz"};
  SeqRun r = start(p);
  EXPECT_EQ(feed(r, "abx!cd"), 4u);
  GenerateResult res = r.obs->waitDone();
  EXPECT_EQ(res.finishReason, FinishReason::kStop);
  EXPECT_EQ(res.text, "abx");  // the held-back "x" is flushed; the stop token adds no text
  EXPECT_EQ(res.tokens.back(), '!');
  EXPECT_EQ(joinedDeltas(*r.obs), res.text);
}

TEST(GenerationSequence, EosStopsUnlessIgnored) {
  SeqRun r = start(test::greedy(10), {'\n'});
  EXPECT_EQ(feed(r, "ab\ncd"), 3u);
  EXPECT_EQ(r.obs->waitDone().finishReason, FinishReason::kStop);
  EXPECT_EQ(r.obs->waitDone().text, "ab");

  SeqRun q = start(test::greedy(5, /*ignoreEos=*/true), {'\n'});
  EXPECT_EQ(feed(q, "ab\ncd"), 5u);
  EXPECT_EQ(q.obs->waitDone().finishReason, FinishReason::kLength);
  EXPECT_EQ(q.obs->waitDone().text, "ab\ncd");
}

TEST(GenerationSequence, StopStringAcrossTokensIsCutOut) {
  SamplingParams p = test::greedy(20);
  p.stopStrings = {"cd", "zzz"};
  SeqRun r = start(p);
  EXPECT_EQ(feed(r, "abcdef"), 4u);
  GenerateResult res = r.obs->waitDone();
  EXPECT_EQ(res.finishReason, FinishReason::kStopString);
  EXPECT_EQ(res.text, "ab");
  EXPECT_EQ(res.tokens.size(), 4u);
  EXPECT_EQ(joinedDeltas(*r.obs), "ab");
  EXPECT_EQ(r.obs->doneCalls(), 1);
}

TEST(GenerationSequence, AbortReportsWhatWasGeneratedOnce) {
  SeqRun r = start(test::greedy(20));
  feed(r, "hey");
  r.seq->abort(cancelled("gone"), FinishReason::kCancelled, SteadyClock::now());
  r.seq->abort(cancelled("again"), FinishReason::kCancelled, SteadyClock::now());
  GenerateResult res = r.obs->waitDone();
  EXPECT_EQ(res.status.code(), StatusCode::kCancelled);
  EXPECT_EQ(res.finishReason, FinishReason::kCancelled);
  EXPECT_EQ(res.tokens.size(), 3u);
  EXPECT_EQ(res.text, "hey");
  EXPECT_EQ(r.obs->doneCalls(), 1);
  EXPECT_TRUE(r.seq->finished());
}

TEST(GenerationSequence, TimingIsConsistent) {
  SeqRun r = start(test::greedy(4));
  feed(r, "abcd");
  const RequestTiming t = r.obs->waitDone().timing;
  EXPECT_EQ(t.generatedTokens, 4);
  EXPECT_EQ(t.promptTokens, 2);
  EXPECT_GE(t.ttftSeconds, t.queueSeconds);
  EXPECT_NEAR(t.ttftSeconds, t.queueSeconds + t.prefillSeconds, 1e-6);
  EXPECT_NEAR(t.meanTpotSeconds, t.decodeSeconds / 3, 1e-9);
  EXPECT_GE(t.e2eSeconds, t.ttftSeconds + t.decodeSeconds - 1e-6);
}

TEST(GenerationSequence, UnscheduledJobReportsQueueTimeOnly) {
  auto obs = std::make_shared<CollectingObserver>();
  GenerateJob job;
  job.prompt = {1, 2, 3};
  job.observer = obs;
  job.submitted = SteadyClock::now() - std::chrono::milliseconds(20);
  job.model = "m";
  finishUnscheduled(job, deadlineExceeded("late"), FinishReason::kDeadline, SteadyClock::now(), nullptr);
  GenerateResult r = obs->waitDone();
  EXPECT_EQ(r.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(r.timing.queueSeconds, 0.019);
  EXPECT_EQ(r.timing.e2eSeconds, r.timing.queueSeconds);
  EXPECT_EQ(r.timing.promptTokens, 3);
  EXPECT_EQ(r.model, "m");
}

TEST(GenerateJob, InterruptionCancelAndDeadline) {
  GenerateJob job;
  const auto now = SteadyClock::now();
  EXPECT_FALSE(job.interruption(now).has_value());
  job.deadline = now;
  EXPECT_EQ(job.interruption(now)->code(), StatusCode::kDeadlineExceeded);
  job.cancelled = true;
  EXPECT_EQ(job.interruption(now)->code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace mamba
