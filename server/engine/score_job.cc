#include "server/engine/score_job.h"

#include <algorithm>

namespace mamba {

ScoreJob::ScoreJob(std::vector<Item> items, std::optional<Clock::time_point> deadline)
    : items_(std::move(items)), deadline_(deadline), submitted_(Clock::now()),
      scores_(items_.size()), remaining_(items_.size()) {}

bool ScoreJob::complete(size_t index, const ContinuationScore& score) {
  std::lock_guard lock(mutex_);
  if (done_) return false;
  scores_[index] = score;
  if (--remaining_ > 0) return false;
  done_ = true;
  cv_.notify_all();
  return true;
}

bool ScoreJob::fail(Status status) {
  std::lock_guard lock(mutex_);
  if (done_) return false;
  status_ = std::move(status);
  done_ = true;
  cv_.notify_all();
  return true;
}

bool ScoreJob::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

StatusOr<std::vector<ContinuationScore>> ScoreJob::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return done_; });
  if (!status_.isOk()) return status_;
  return scores_;
}

ScoreSequence::ScoreSequence(std::shared_ptr<ScoreJob> job, size_t index, int32_t slot)
    : job_(std::move(job)), index_(index), slot_(slot) {}

ScoreSequence::Chunk ScoreSequence::nextChunk(size_t maxTokens) const {
  const ScoreJob::Item& it = job_->items()[index_];
  const size_t scoreFrom = it.contextLen - 1;  // first input whose next token is scored
  size_t end = std::min(pos_ + maxTokens, inputs());
  if (pos_ < scoreFrom) end = std::min(end, scoreFrom);
  std::span<const int32_t> all(it.tokens);
  Chunk c;
  c.item = PrefillItem{all.subspan(pos_, end - pos_), slot_, pos_ > 0};
  if (pos_ >= scoreFrom) c.targets = all.subspan(pos_ + 1, end - pos_);
  return c;
}

bool ScoreSequence::accept(const Chunk& chunk, std::span<const ScoredToken> scored) {
  for (const ScoredToken& s : scored) {
    logprob_ += static_cast<double>(s.logprob);
    greedy_ = greedy_ && s.isGreedy;
  }
  pos_ += chunk.item.tokens.size();
  if (pos_ < inputs()) return false;
  const ScoreJob::Item& it = job_->items()[index_];
  ContinuationScore score;
  score.logprob = logprob_;
  score.isGreedy = greedy_;
  score.numTokens = static_cast<int64_t>(it.tokens.size() - it.contextLen);
  score.numBytes = it.numBytes;
  return job_->complete(index_, score);
}

}  // namespace mamba
