#include "server/engine/scheduler.h"

#include <algorithm>

#include "server/metrics/serving_metrics.h"

namespace mamba {
namespace {

FinishReason reasonFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kCancelled: return FinishReason::kCancelled;
    case StatusCode::kDeadlineExceeded: return FinishReason::kDeadline;
    default: return FinishReason::kError;
  }
}

Status deadlinePassed() { return deadlineExceeded("the request's deadline passed"); }

// Host rows below this count are sampled on the scheduler thread: a hand-off to the pool costs
// more than sampling a few rows.
constexpr size_t kMinParallelRows = 4;

}  // namespace

Scheduler::Scheduler(std::unique_ptr<ModelBackend> backend, const Tokenizer* tokenizer,
                     SchedulerOptions options, const metrics::ModelMetrics* metrics)
    : backend_(std::move(backend)), info_(backend_->info()), tokenizer_(tokenizer),
      options_(options), metrics_(metrics),
      waitingShare_(metrics ? metrics->waiting : nullptr), runningShare_(metrics ? metrics->running : nullptr),
      slotsUsedShare_(metrics ? metrics->slotsUsed : nullptr),
      slotsCapacityShare_(metrics ? metrics->slotsCapacity : nullptr), pipeline_(*backend_) {
  slotsCapacityShare_.set(static_cast<double>(info_.numSlots));
  int64_t vocab = info_.vocabSize;
  if (tokenizer_) vocab = std::min<int64_t>(vocab, tokenizer_->vocabSize());
  sampleVocab_ = static_cast<int32_t>(std::max<int64_t>(vocab, 1));
  const int threads = options_.samplingThreads < 0 ? ParallelPool::defaultThreads() : options_.samplingThreads;
  if (threads > 0) pool_ = std::make_unique<ParallelPool>(threads);
  if (metrics_) {
    metrics_->stateBytesPerSequence->set(static_cast<double>(info_.stateBytesPerSequence));
  }
  updateGauges();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

Status Scheduler::enqueue(std::shared_ptr<GenerateJob> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return unavailable("model " + info_.name + " (" + info_.variant + ") is shutting down");
    if (static_cast<int64_t>(queue_.size()) >= options_.maxQueued) {
      return resourceExhausted("the queue of model " + info_.name + " (" + info_.variant + ") is full (" +
                               std::to_string(queue_.size()) + " waiting requests)");
    }
    queue_.push_back(Pending{std::move(job), nullptr, 0});
    ++inFlight_;
    waitingShare_.set(static_cast<double>(queue_.size()));
    arrivals_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_one();
  return Status::ok();
}

Status Scheduler::enqueueScore(std::shared_ptr<ScoreJob> job) {
  const size_t n = job->items().size();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return unavailable("model " + info_.name + " (" + info_.variant + ") is shutting down");
    if (static_cast<int64_t>(queue_.size() + n) > options_.maxQueued) {
      return resourceExhausted("the queue of model " + info_.name + " (" + info_.variant + ") cannot take " +
                               std::to_string(n) + " more continuations (" + std::to_string(queue_.size()) +
                               " waiting, limit " + std::to_string(options_.maxQueued) + ")");
    }
    for (size_t i = 0; i < n; ++i) queue_.push_back(Pending{nullptr, job, i});
    inFlight_ += static_cast<int64_t>(n);
    waitingShare_.set(static_cast<double>(queue_.size()));
    arrivals_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_one();
  return Status::ok();
}

int64_t Scheduler::inFlight() const {
  std::lock_guard lock(mutex_);
  return inFlight_;
}

bool Scheduler::waitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_.wait_until(lock, deadline, [&] { return inFlight_ == 0; });
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    arrivals_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  // Called from an observer on the scheduler thread: the loop ends after this step; the
  // join is left to a later call from another thread (the destructor at the latest).
  if (std::this_thread::get_id() == thread_.get_id()) return;
  std::call_once(joined_, [this] {
    if (thread_.joinable()) thread_.join();
  });
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto hasWork = [&] { return stopping_ || !queue_.empty() || !active_.empty() || pipeline_.inFlight() > 0; };
      if (!hasWork() && options_.idleSpinMicros > 0) {
        // Poll for the next arrival before sleeping (the queue is empty and nothing is active,
        // so only an enqueue or shutdown can give work, and each bumps arrivals_).
        const uint64_t seen = arrivals_.load(std::memory_order_acquire);
        lock.unlock();
        const auto until = SteadyClock::now() + std::chrono::microseconds(options_.idleSpinMicros);
        while (arrivals_.load(std::memory_order_acquire) == seen && SteadyClock::now() < until) {
          std::this_thread::yield();
        }
        lock.lock();
      }
      wake_.wait(lock, hasWork);
      if (stopping_) break;
    }
    const auto now = SteadyClock::now();
    dropInterrupted(now);
    int64_t retired = planAndAdmit(now);
    int64_t calls = runPrefill();
    calls += runDecode();
    const bool worked = calls > 0;
    retired += compact();
    updateGauges();   // before retire(): waitIdle() returns with the gauges up to date
    retire(retired);
    if (!worked && retired == 0) {
      // Nothing could progress (every queued request waits for a slot that only a finishing
      // request frees): wait briefly instead of spinning.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
  cancelAll(cancelled("the engine is shutting down"));
}

bool Scheduler::isDone(const Active& a) const {
  return a.gen ? a.gen->finished() : (a.score->finished() || a.score->job().done());
}

void Scheduler::failSequence(Active& a, const Status& status, SteadyClock::time_point now) {
  if (a.gen) {
    a.gen->abort(status, reasonFor(status), now);
  } else if (a.score->job().fail(status) && metrics_) {
    metrics_->requestFinished(status.code());
  }
}

void Scheduler::dropInterrupted(SteadyClock::time_point now) {
  for (Active& a : active_) {
    if (isDone(a)) continue;
    if (a.gen) {
      if (auto why = a.gen->job().interruption(now)) failSequence(a, *why, now);
    } else if (const auto& d = a.score->job().deadline(); d && now >= *d) {
      failSequence(a, deadlinePassed(), now);
    }
  }
}

int64_t Scheduler::planAndAdmit(SteadyClock::time_point now) {
  const size_t chunk = static_cast<size_t>(options_.prefillChunkTokens);
  size_t budget = static_cast<size_t>(options_.maxPrefillTokensPerStep);
  int64_t generations = 0;
  // Sequences admitted earlier continue their prefill first, in admission order.
  for (Active& a : active_) {
    a.planned = 0;
    if (isDone(a)) continue;
    if (a.gen) ++generations;
    const size_t rest = a.gen ? a.gen->promptRemaining() : a.score->remaining();
    a.planned = std::min({rest, chunk, budget});
    budget -= a.planned;
  }

  std::vector<Pending> dropped;
  std::vector<Status> why;
  {
    std::lock_guard lock(mutex_);
    // Queued requests that were cancelled or expired leave the queue now, wherever they are.
    for (auto it = queue_.begin(); it != queue_.end();) {
      std::optional<Status> s;
      if (it->gen) {
        s = it->gen->interruption(now);
      } else if (it->score->done()) {
        s = cancelled("the score request already ended");
      } else if (const auto& d = it->score->deadline(); d && now >= *d) {
        s = deadlinePassed();
      }
      if (!s) {
        ++it;
        continue;
      }
      why.push_back(*s);
      dropped.push_back(std::move(*it));
      it = queue_.erase(it);
    }
    // Admission, FIFO, while the budget, the slots and the batch limit allow.
    while (budget > 0 && !queue_.empty() && backend_->freeSlots() > 0) {
      Pending& p = queue_.front();
      if (p.gen && generations >= options_.maxBatch) break;  // keep FIFO order
      const std::optional<int32_t> slot = backend_->acquireSlot();
      if (!slot) break;
      Active a;
      size_t rest = 0;
      if (p.gen) {
        a.gen = std::make_unique<GenerationSequence>(std::move(p.gen), *slot, tokenizer_, info_.eosTokenIds,
                                                     sampleVocab_, metrics_, now);
        rest = a.gen->promptRemaining();
        ++generations;
      } else {
        a.score = std::make_unique<ScoreSequence>(std::move(p.score), p.item, *slot);
        rest = a.score->remaining();
      }
      a.planned = std::min({rest, chunk, budget});
      budget -= a.planned;
      active_.push_back(std::move(a));
      queue_.pop_front();
    }
    waitingShare_.set(static_cast<double>(queue_.size()));
  }
  for (size_t i = 0; i < dropped.size(); ++i) {
    if (dropped[i].gen) {
      finishUnscheduled(*dropped[i].gen, why[i], reasonFor(why[i]), now, metrics_);
    } else if (dropped[i].score->fail(why[i]) && metrics_) {
      metrics_->requestFinished(why[i].code());
    }
  }
  return static_cast<int64_t>(dropped.size());
}

int64_t Scheduler::runPrefill() {
  int64_t calls = 0;
  // Every generation chunk of this iteration in one right-padded batch.
  std::vector<PrefillItem> items;
  std::vector<size_t> which;
  size_t tokens = 0;
  rows_.clear();
  for (size_t i = 0; i < active_.size(); ++i) {
    Active& a = active_[i];
    if (!a.gen || a.planned == 0 || isDone(a)) continue;
    items.push_back(PrefillItem{a.gen->promptSlice(a.planned), a.gen->slot(), a.gen->promptDone() > 0});
    which.push_back(i);
    tokens += a.planned;
    // Only a chunk that completes its prompt yields the first token.
    rows_.push_back(a.planned == a.gen->promptRemaining() ? rowOutputFor(*a.gen) : RowOutput::kNone);
  }
  if (!items.empty()) {
    ++calls;
    const auto t0 = SteadyClock::now();
    Status st = backend_->prefill(items, RowRequest{rows_, sampleVocab_}, &out_);
    const auto t1 = SteadyClock::now();
    if (metrics_) {
      metrics_->prefillBatch->observe(secondsBetween(t0, t1));
      metrics_->promptTokens->inc(static_cast<double>(tokens));
    }
    for (size_t k = 0; k < which.size(); ++k) {
      Active& a = active_[which[k]];
      if (!st.isOk()) {
        failSequence(a, st, t1);
      } else {
        a.gen->advancePrompt(a.planned);
      }
    }
    if (st.isOk()) acceptRows(which, t1);
  }
  // Score chunks, one item per call (prefillScore scores a single sequence).
  for (Active& a : active_) {
    if (!a.score || a.planned == 0 || isDone(a)) continue;
    ++calls;
    const ScoreSequence::Chunk c = a.score->nextChunk(a.planned);
    const auto t0 = SteadyClock::now();
    Status st;
    std::vector<ScoredToken> scored;
    if (c.targets.empty()) {
      st = backend_->prefill(std::span<const PrefillItem>(&c.item, 1), RowRequest{}, nullptr);
    } else if (auto r = backend_->prefillScore(c.item, c.targets); r.isOk()) {
      scored = std::move(r).value();
    } else {
      st = r.status();
    }
    const auto t1 = SteadyClock::now();
    if (metrics_) {
      metrics_->prefillBatch->observe(secondsBetween(t0, t1));
      metrics_->promptTokens->inc(static_cast<double>(c.item.tokens.size()));
    }
    if (!st.isOk()) {
      failSequence(a, st, t1);
    } else if (a.score->accept(c, scored) && metrics_) {
      metrics_->requestFinished(StatusCode::kOk);
    }
  }
  return calls;
}

int64_t Scheduler::runDecode() {
  bool pipelined = options_.pipelineDecode;
  for (const Active& a : active_) {
    if (a.gen && a.gen->decoding() && a.gen->needsLogits()) pipelined = false;
  }
  if (pipelined) return runPipelinedDecode();
  if (pipeline_.inFlight() == 0) return runSyncDecode();
  // The tokens of the step in flight belong before this step (the synchronous path handled
  // them in the previous iteration, before its drop of cancelled and expired requests).
  const int64_t calls = drainPipeline();
  dropInterrupted(SteadyClock::now());
  return calls + runSyncDecode();
}

int64_t Scheduler::runSyncDecode() {
  std::vector<int32_t> tokens, slots;
  std::vector<size_t> which;
  rows_.clear();
  for (size_t i = 0; i < active_.size(); ++i) {
    const Active& a = active_[i];
    if (!a.gen || !a.gen->decoding()) continue;
    tokens.push_back(a.gen->lastToken());
    slots.push_back(a.gen->slot());
    which.push_back(i);
    rows_.push_back(rowOutputFor(*a.gen));
  }
  if (tokens.empty()) return 0;
  const auto t0 = SteadyClock::now();
  Status st = backend_->decode(tokens, slots, RowRequest{rows_, sampleVocab_}, &out_);
  const auto t1 = SteadyClock::now();
  if (metrics_) {
    metrics_->decodeStep->observe(secondsBetween(t0, t1));
    metrics_->batchSize->observe(static_cast<double>(tokens.size()));
  }
  if (!st.isOk()) {
    for (size_t i : which) failSequence(active_[i], st, t1);
    return 1;
  }
  acceptRows(which, t1);
  return 1;
}

int64_t Scheduler::runPipelinedDecode() {
  std::vector<GenerationSequence*> seqs;
  std::vector<DecodeInput> inputs;
  for (Active& a : active_) {
    if (!a.gen || !a.gen->decoding()) continue;
    GenerationSequence& g = *a.gen;
    const int32_t row = pipeline_.pendingRow(g.slot());
    if (row < 0) {
      inputs.push_back(DecodeInput::host(g.lastToken()));
    } else if (g.generated() + 1 < static_cast<size_t>(g.job().sampling.maxNewTokens)) {
      inputs.push_back(DecodeInput::fromPrevious(row));
    } else {
      continue;  // its pending token is its last (max_new_tokens): nothing to decode after it
    }
    seqs.push_back(&g);
  }
  int64_t calls = 0;
  const bool started = !seqs.empty();
  if (started) {
    ++calls;
    Status st = pipeline_.start(seqs, inputs, sampleVocab_);
    if (!st.isOk()) {
      // As on the synchronous path: the previous step's tokens, then this step's failure.
      calls += drainPipeline();
      const auto now = SteadyClock::now();
      for (GenerationSequence* g : seqs) g->abort(st, reasonFor(st), now);
      return calls;
    }
  }
  // The previous step's tokens, while the device runs the new step.
  while (pipeline_.inFlight() > (started ? 1u : 0u)) calls += finishStep();
  // Every sequence of the new step ended on the previous step's token: finish it now, so that
  // their slots come back at once (and no step stays in flight while the loop waits).
  if (pipeline_.inFlight() > 0 && !pipeline_.newestHasLiveRows()) calls += finishStep();
  return calls;
}

int64_t Scheduler::finishStep() {
  DecodePipeline::Finished f = pipeline_.finish(&out_);
  const auto now = SteadyClock::now();
  size_t live = 0;
  for (const GenerationSequence* g : f.seqs) live += g && !g->finished() ? 1 : 0;
  if (metrics_ && live > 0) {
    metrics_->decodeStep->observe(secondsBetween(std::max(f.started, f.previousDone), now));
    metrics_->batchSize->observe(static_cast<double>(live));
  }
  // Events, metrics and stops in row (= sequence) order, as acceptRows() does.
  for (size_t k = 0; k < f.seqs.size(); ++k) {
    GenerationSequence* g = f.seqs[k];
    if (!g || g->finished()) continue;
    if (f.status.isOk()) {
      g->acceptGreedy(out_.greedy[k], now);
    } else {
      g->abort(f.status, reasonFor(f.status), now);
    }
  }
  return 1;
}

int64_t Scheduler::drainPipeline() {
  int64_t calls = 0;
  while (pipeline_.inFlight() > 0) calls += finishStep();
  return calls;
}

void Scheduler::acceptRows(std::span<const size_t> which, SteadyClock::time_point now) {
  const size_t stride = static_cast<size_t>(info_.vocabSize);
  hostRows_.clear();
  for (size_t k = 0; k < rows_.size(); ++k) {
    if (rows_[k] == RowOutput::kLogits) hostRows_.push_back(k);
  }
  // Host sampling touches each sequence's own sampler only (and the thread's scratch), so
  // the rows may be sampled in any order on any threads; the results do not change.
  hostResults_.resize(hostRows_.size());
  auto sampleRow = [&](size_t j) {
    hostResults_[j] = active_[which[hostRows_[j]]].gen->sample(out_.logits.subspan(j * stride, stride));
  };
  if (pool_ && hostRows_.size() >= kMinParallelRows) {
    pool_->parallelFor(hostRows_.size(), sampleRow);
  } else {
    for (size_t j = 0; j < hostRows_.size(); ++j) sampleRow(j);
  }
  // Events, metrics and stops on this thread, in row (= sequence) order.
  size_t j = 0;
  for (size_t k = 0; k < rows_.size(); ++k) {
    GenerationSequence& g = *active_[which[k]].gen;
    switch (rows_[k]) {
      case RowOutput::kNone: break;
      case RowOutput::kGreedy: g.acceptGreedy(out_.greedy[k], now); break;
      case RowOutput::kLogits: g.acceptSample(std::move(hostResults_[j++]), now); break;
    }
  }
}

int64_t Scheduler::compact() {
  int64_t removed = 0;
  size_t out = 0;
  for (size_t i = 0; i < active_.size(); ++i) {
    if (isDone(active_[i])) {
      pipeline_.releaseSlot(active_[i].gen ? active_[i].gen->slot() : active_[i].score->slot());
      ++removed;
      continue;
    }
    if (out != i) active_[out] = std::move(active_[i]);
    ++out;
  }
  active_.resize(out);
  return removed;
}

void Scheduler::retire(int64_t n) {
  if (n == 0) return;
  std::lock_guard lock(mutex_);
  inFlight_ -= n;
  if (inFlight_ == 0) idle_.notify_all();
}

void Scheduler::updateGauges() {
  if (!metrics_) return;
  int64_t running = 0;
  for (const Active& a : active_) running += a.gen ? 1 : 0;
  runningShare_.set(static_cast<double>(running));
  slotsUsedShare_.set(static_cast<double>(info_.numSlots - backend_->freeSlots()));
}

void Scheduler::cancelAll(const Status& why) {
  drainPipeline();  // its tokens first, as the synchronous path would have handled them
  const auto now = SteadyClock::now();
  for (Active& a : active_) {
    if (!isDone(a)) failSequence(a, why, now);
  }
  int64_t retired = compact();
  std::deque<Pending> queued;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queue_);
    waitingShare_.set(0);
  }
  for (Pending& p : queued) {
    if (p.gen) {
      finishUnscheduled(*p.gen, why, reasonFor(why), now, metrics_);
    } else if (p.score->fail(why) && metrics_) {
      metrics_->requestFinished(why.code());
    }
  }
  retired += static_cast<int64_t>(queued.size());
  updateGauges();
  retire(retired);
}

}  // namespace mamba
