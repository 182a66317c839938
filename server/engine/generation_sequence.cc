#include "server/engine/generation_sequence.h"

#include <algorithm>

#include "server/engine/sampling/finish_reason.h"
#include "server/metrics/serving_metrics.h"

namespace mamba {

double secondsBetween(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::optional<Status> GenerateJob::interruption(SteadyClock::time_point now) const {
  if (cancelled.load(std::memory_order_relaxed)) return ::mamba::cancelled("the request was cancelled");
  if (deadline && now >= *deadline) return deadlineExceeded("the request's deadline passed");
  return std::nullopt;
}

namespace {

void recordFinal(const metrics::ModelMetrics* m, const GenerateResult& r) {
  if (!m) return;
  m->requestFinished(r.status.code());
  m->e2e->observe(r.timing.e2eSeconds);
  if (r.timing.generatedTokens >= 1) m->ttft->observe(r.timing.ttftSeconds);
  if (r.timing.generatedTokens >= 2) m->tpot->observe(r.timing.meanTpotSeconds);
}

}  // namespace

void finishUnscheduled(GenerateJob& job, Status status, FinishReason reason,
                       SteadyClock::time_point now, const metrics::ModelMetrics* metrics) {
  GenerateResult r;
  r.status = std::move(status);
  r.finishReason = reason;
  r.model = job.model;
  r.variant = job.variant;
  r.timing.queueSeconds = secondsBetween(job.submitted, now);
  r.timing.e2eSeconds = r.timing.queueSeconds;
  r.timing.promptTokens = static_cast<int64_t>(job.prompt.size());
  recordFinal(metrics, r);
  job.observer->onDone(r);
}

GenerationSequence::GenerationSequence(std::shared_ptr<GenerateJob> job, int32_t slot,
                                       const Tokenizer* tokenizer, std::vector<int32_t> eosTokenIds,
                                       int32_t sampleVocab, const metrics::ModelMetrics* metrics,
                                       SteadyClock::time_point scheduled)
    : job_(std::move(job)), slot_(slot), tokenizer_(tokenizer), eos_(std::move(eosTokenIds)),
      sampleVocab_(sampleVocab), metrics_(metrics), scheduled_(scheduled),
      sampler_(job_->sampling), stops_(job_->sampling.stopStrings),
      history_(job_->prompt) {
  history_.reserve(history_.size() + static_cast<size_t>(std::min(job_->sampling.maxNewTokens, 4096)));
  if (metrics_) metrics_->queue->observe(secondsBetween(job_->submitted, scheduled_));
}

std::span<const int32_t> GenerationSequence::promptSlice(size_t n) const {
  return std::span<const int32_t>(job_->prompt).subspan(promptDone_, n);
}

Sampler::Result GenerationSequence::sample(std::span<const float> logits) {
  // Logprobs are normalized over the sampled vocabulary (sampleVocab ids), not over all of
  // the model's logits as Score's are (see ScoredToken).
  return sampler_.sample(logits.first(static_cast<size_t>(sampleVocab_)), history_);
}

bool GenerationSequence::acceptLogits(std::span<const float> logits, SteadyClock::time_point now) {
  return acceptSample(sample(logits), now);
}

bool GenerationSequence::acceptGreedy(GreedyPick pick, SteadyClock::time_point now) {
  Sampler::Result r;
  r.token = pick.token;
  r.logprob = pick.logprob;
  return acceptSample(std::move(r), now);
}

bool GenerationSequence::acceptSample(Sampler::Result r, SteadyClock::time_point now) {
  const SamplingParams& p = job_->sampling;
  tokens_.push_back(r.token);
  history_.push_back(r.token);
  if (metrics_) {
    metrics_->generationTokens->inc();
    if (lastTokenAt_) metrics_->interToken->observe(secondsBetween(*lastTokenAt_, now));
  }
  if (!firstToken_) firstToken_ = now;
  lastTokenAt_ = now;

  // The order of offline.cc's generate(): stop token, then stop strings, then the length.
  std::optional<FinishReason> reason;
  std::string bytes;
  if (isStopToken(p, r.token, eos_)) {
    reason = FinishReason::kStop;
  } else {
    StopChecker::Step step = stops_.push(tokenizer_ ? tokenizer_->tokenBytes(r.token) : std::string());
    bytes = std::move(step.emit);
    if (step.stopped) reason = FinishReason::kStopString;
  }
  if (!reason && static_cast<int32_t>(tokens_.size()) >= p.maxNewTokens) reason = FinishReason::kLength;

  TokenEvent event;
  event.token = r.token;
  event.textDelta = utf8_.push(bytes);
  if (reason) {
    if (*reason != FinishReason::kStopString) event.textDelta += utf8_.push(stops_.flush());
    event.textDelta += utf8_.finish();
  }
  event.logprob = r.logprob;
  event.topLogprobs = std::move(r.top);
  text_ += event.textDelta;
  job_->observer->onToken(event);
  if (reason) finish(Status::ok(), *reason, now);
  return finished_;
}

void GenerationSequence::abort(Status status, FinishReason reason, SteadyClock::time_point now) {
  if (!finished_) finish(std::move(status), reason, now);
}

void GenerationSequence::finish(Status status, FinishReason reason, SteadyClock::time_point now) {
  finished_ = true;
  GenerateResult r;
  r.status = std::move(status);
  r.finishReason = reason;
  r.tokens = tokens_;
  r.text = text_;
  r.model = job_->model;
  r.variant = job_->variant;
  RequestTiming& t = r.timing;
  t.queueSeconds = secondsBetween(job_->submitted, scheduled_);
  t.promptTokens = static_cast<int64_t>(job_->prompt.size());
  t.generatedTokens = static_cast<int64_t>(tokens_.size());
  if (firstToken_) {
    t.ttftSeconds = secondsBetween(job_->submitted, *firstToken_);
    t.prefillSeconds = secondsBetween(scheduled_, *firstToken_);
    t.decodeSeconds = secondsBetween(*firstToken_, *lastTokenAt_);
    if (tokens_.size() >= 2) t.meanTpotSeconds = t.decodeSeconds / static_cast<double>(tokens_.size() - 1);
  }
  t.e2eSeconds = secondsBetween(job_->submitted, now);
  recordFinal(metrics_, r);
  job_->observer->onDone(r);
}

}  // namespace mamba
