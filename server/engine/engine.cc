// Engine: the hosted (model, variant) table, request validation, and one Scheduler each.
#include "server/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "server/engine/generation_sequence.h"
#include "server/engine/scheduler.h"
#include "server/engine/score_job.h"
#include "server/metrics/serving_metrics.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba {
namespace {

struct Hosted {
  std::string name, variant;
  std::unique_ptr<const Tokenizer> tokenizer;  // null: token-id prompts only
  const metrics::ModelMetrics* metrics = nullptr;
  std::unique_ptr<Scheduler> scheduler;
};

class Handle final : public RequestHandle {
 public:
  explicit Handle(std::shared_ptr<GenerateJob> job) : job_(std::move(job)) {}
  void cancel() override { job_->cancelled.store(true, std::memory_order_relaxed); }

 private:
  std::shared_ptr<GenerateJob> job_;
};

Status validateSchedulerOptions(const SchedulerOptions& o) {
  auto atLeastOne = [](int64_t v, const char* field) {
    return v >= 1 ? Status::ok()
                  : invalidArgument(std::string("scheduler.") + field + " must be >= 1, got " + std::to_string(v));
  };
  MAMBA_RETURN_IF_ERROR(atLeastOne(o.maxQueued, "max_queued"));
  MAMBA_RETURN_IF_ERROR(atLeastOne(o.maxBatch, "max_batch"));
  MAMBA_RETURN_IF_ERROR(atLeastOne(o.prefillChunkTokens, "prefill_chunk_tokens"));
  MAMBA_RETURN_IF_ERROR(atLeastOne(o.maxPrefillTokensPerStep, "max_prefill_tokens_per_step"));
  MAMBA_RETURN_IF_ERROR(atLeastOne(o.maxNewTokensLimit, "max_new_tokens_limit"));
  if (o.samplingThreads < -1) {
    return invalidArgument("scheduler.sampling_threads must be >= -1, got " + std::to_string(o.samplingThreads));
  }
  return atLeastOne(o.maxPromptTokens, "max_prompt_tokens");
}

// An explicit tokenizer path must load; the default <modelDir>/tokenizer.json is optional.
StatusOr<std::unique_ptr<const Tokenizer>> loadTokenizer(const ModelSpec& spec) {
  std::string path = spec.tokenizerPath;
  if (path.empty()) {
    path = (std::filesystem::path(spec.backend.modelDir) / "tokenizer.json").string();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::unique_ptr<const Tokenizer>();
  }
  MAMBA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::fromFile(path));
  return std::unique_ptr<const Tokenizer>(std::move(tok));
}

// INVALID_ARGUMENT naming `field` for the first id outside [0, vocab).
Status checkIds(std::span<const int32_t> ids, const std::string& field, int64_t vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return invalidArgument(field + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                             " is out of range [0, " + std::to_string(vocab) + ")");
    }
  }
  return Status::ok();
}

// Loads one model variant and starts its scheduler; errors carry `where` as context.
StatusOr<std::shared_ptr<Hosted>> loadHosted(const ModelSpec& spec, const SchedulerOptions& scheduler,
                                             metrics::ServingMetrics* metrics, const std::string& where) {
  if (!isVariantName(spec.variant)) {
    return invalidArgument(where + ": variant must be dense, masked or compacted, got '" + spec.variant + "'");
  }
  BackendOptions bo = spec.backend;
  if (!spec.name.empty()) bo.name = spec.name;
  bo.variant = spec.variant;
  auto backend = loadTorchBackend(bo);
  if (!backend.isOk()) return backend.status().withContext(where);
  auto h = std::make_shared<Hosted>();
  h->name = (*backend)->info().name;
  h->variant = (*backend)->info().variant;
  auto tok = loadTokenizer(spec);
  if (!tok.isOk()) return tok.status().withContext(where);
  h->tokenizer = std::move(tok).value();
  if (metrics) {
    auto mm = metrics->forModel(h->name, h->variant);
    if (!mm.isOk()) return mm.status().withContext(where);
    h->metrics = *mm;
  }
  h->scheduler = std::make_unique<Scheduler>(std::move(backend).value(), h->tokenizer.get(), scheduler, h->metrics);
  return h;
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::vector<std::shared_ptr<Hosted>> hosted, std::string defaultModel, SchedulerOptions scheduler,
             metrics::ServingMetrics* metrics)
      : hosted_(std::move(hosted)), defaultModel_(std::move(defaultModel)), scheduler_(scheduler), metrics_(metrics) {}
  ~EngineImpl() override { shutdown(); }

  StatusOr<std::shared_ptr<RequestHandle>> submit(GenerateRequest request,
                                                  std::shared_ptr<GenerateObserver> observer) override {
    if (!observer) return invalidArgument("observer must not be null");
    // Held until the job is queued: a swap (exclusive) then finds it counted in the old
    // scheduler's in-flight requests, which the retirement waits for.
    std::shared_lock table(tableMutex_);
    auto hosted = resolve(request.model, request.variant);
    if (Status s = admissionOpen(); !s.isOk()) return reject(hosted, s);
    if (!hosted.isOk()) return hosted.status();
    Hosted& h = **hosted;
    auto job = std::make_shared<GenerateJob>();
    if (Status s = buildJob(h, std::move(request), *job); !s.isOk()) return reject(hosted, s);
    job->observer = std::move(observer);
    job->submitted = SteadyClock::now();
    if (Status s = h.scheduler->enqueue(job); !s.isOk()) return reject(hosted, s);
    return std::shared_ptr<RequestHandle>(std::make_shared<Handle>(std::move(job)));
  }

  void countRefused(const std::string& model, const std::string& variant, const Status& status) override {
    std::shared_lock table(tableMutex_);
    (void)reject(resolve(model, variant), status);
  }

  StatusOr<ScoreResult> score(const ScoreRequest& request) override {
    std::shared_ptr<ScoreJob> job;
    ScoreResult r;
    {
      std::shared_lock table(tableMutex_);  // until queued, as in submit()
      auto hosted = resolve(request.model, request.variant);
      if (Status s = admissionOpen(); !s.isOk()) return reject(hosted, s);
      if (!hosted.isOk()) return hosted.status();
      Hosted& h = **hosted;
      auto items = buildScoreItems(h, request);
      if (!items.isOk()) return reject(hosted, items.status());
      job = std::make_shared<ScoreJob>(std::move(items).value(), request.deadline);
      if (Status s = h.scheduler->enqueueScore(job); !s.isOk()) return reject(hosted, s);
      r.model = h.name;
      r.variant = h.variant;
    }
    MAMBA_ASSIGN_OR_RETURN(r.scores, job->wait());
    return r;
  }

  std::vector<ModelInfo> listModels() const override {
    std::shared_lock table(tableMutex_);
    std::vector<ModelInfo> out;
    for (const auto& h : hosted_) out.push_back(h->scheduler->info());
    return out;
  }

  StatusOr<std::vector<int32_t>> tokenize(const std::string& model, const std::string& text) const override {
    std::shared_lock table(tableMutex_);
    MAMBA_ASSIGN_OR_RETURN(Hosted * h, resolve(model, ""));
    if (!h->tokenizer) return failedPrecondition("model " + h->name + " has no tokenizer");
    return h->tokenizer->encode(text);
  }

  StatusOr<ModelLoadResult> loadModel(const ModelSpec& spec) override {
    MAMBA_RETURN_IF_ERROR(admissionOpen());
    std::lock_guard load(loadMutex_);
    const auto t0 = SteadyClock::now();
    auto loaded = loadHosted(spec, scheduler_, metrics_, "model");
    if (!loaded.isOk()) {
      if (metrics_) metrics_->modelLoad(spec.name, spec.variant, "failed");
      return loaded.status();
    }
    std::shared_ptr<Hosted> fresh = std::move(loaded).value();
    ModelLoadResult result;
    result.loadSeconds = secondsBetween(t0, SteadyClock::now());
    result.info = fresh->scheduler->info();
    std::shared_ptr<Hosted> old;
    {
      std::unique_lock table(tableMutex_);
      if (shutdown_.load()) return unavailable("the engine is shut down");
      auto it = findHosted(fresh->name, fresh->variant);
      if (it == hosted_.end()) {
        hosted_.push_back(std::move(fresh));
      } else {
        old = std::exchange(*it, std::move(fresh));
      }
    }
    if (metrics_) metrics_->modelLoad(result.info.name, result.info.variant, old ? "replaced" : "loaded");
    if (old) {
      result.replaced = true;
      result.previous = old->scheduler->info();
      retire(std::move(old));
    }
    return result;
  }

  Status unloadModel(const std::string& name, const std::string& variant) override {
    std::shared_ptr<Hosted> old;
    {
      std::unique_lock table(tableMutex_);
      auto it = findHosted(name, variant);
      if (it == hosted_.end()) {
        return notFound("model '" + name + "' variant '" + variant + "' is not hosted");
      }
      const bool lastOfDefault =
          name == defaultModel_ && std::count_if(hosted_.begin(), hosted_.end(),
                                                 [&](const auto& h) { return h->name == name; }) == 1;
      if (lastOfDefault) {
        return failedPrecondition("model '" + name + "' variant '" + variant +
                                  "' is the last variant of the default model and cannot be unloaded");
      }
      old = std::move(*it);
      hosted_.erase(it);
    }
    if (metrics_) metrics_->modelLoad(name, variant, "unloaded");
    retire(std::move(old));
    return Status::ok();
  }

  int64_t retiringModels() const override {
    std::lock_guard lock(retireMutex_);
    int64_t n = 0;
    for (const auto& r : retiring_) n += r->hosted ? 1 : 0;
    return n;
  }

  void beginDrain() override { draining_.store(true); }
  bool draining() const override { return draining_.load(); }

  bool waitIdle(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::vector<std::shared_ptr<Hosted>> all = snapshot();
      for (const auto& h : all) {
        if (!h->scheduler->waitIdle(deadline)) return false;
      }
      // Idle one after another; make sure no request arrived (and no model came) meanwhile.
      const std::vector<std::shared_ptr<Hosted>> again = snapshot();
      bool idle = again.size() == all.size();
      for (const auto& h : again) idle = idle && h->scheduler->inFlight() == 0;
      if (idle) return true;
    }
  }

  void shutdown() override {
    shutdown_.store(true);
    for (const auto& h : snapshot()) h->scheduler->shutdown();
    std::vector<std::unique_ptr<Retiring>> retiring;
    {
      std::lock_guard lock(retireMutex_);
      retiring.swap(retiring_);
    }
    for (auto& r : retiring) r->thread.join();
  }

 private:
  Status admissionOpen() const {
    if (shutdown_.load()) return unavailable("the engine is shut down");
    if (draining_.load()) return unavailable("the server is draining and accepts no new requests");
    return Status::ok();
  }

  // Counts a request refused after its model resolved (mamba_requests_total), returns `s`.
  Status reject(const StatusOr<Hosted*>& hosted, Status s) const {
    if (hosted.isOk() && (*hosted)->metrics) (*hosted)->metrics->requestFinished(s.code());
    return s;
  }

  // A replaced or unloaded model: its scheduler finishes what it accepted on `thread`, which
  // then drops the last reference (stopping the scheduler and freeing the model).
  struct Retiring {
    std::shared_ptr<Hosted> hosted;  // null once the thread has let it go (retireMutex_)
    std::thread thread;
  };

  // Every hosted model and every model still retiring. Callers hold no lock.
  std::vector<std::shared_ptr<Hosted>> snapshot() const {
    std::vector<std::shared_ptr<Hosted>> all;
    {
      std::shared_lock table(tableMutex_);
      all = hosted_;
    }
    std::lock_guard lock(retireMutex_);
    for (const auto& r : retiring_) {
      if (r->hosted) all.push_back(r->hosted);
    }
    return all;
  }

  // `old` is out of the table: no caller can reach it any more, and everything it accepted
  // is in its scheduler's in-flight count.
  void retire(std::shared_ptr<Hosted> old) {
    std::lock_guard lock(retireMutex_);
    // Join the threads of retirements that have ended.
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      if ((*it)->hosted) {
        ++it;
      } else {
        (*it)->thread.join();
        it = retiring_.erase(it);
      }
    }
    auto r = std::make_unique<Retiring>();
    r->hosted = std::move(old);
    Retiring* entry = r.get();
    r->thread = std::thread([this, entry] {
      std::shared_ptr<Hosted> h;
      {
        std::lock_guard l(retireMutex_);
        h = entry->hosted;
      }
      // Scheduler::shutdown() (engine shutdown) ends the wait too: it finishes every request.
      while (!h->scheduler->waitIdle(SteadyClock::now() + std::chrono::hours(1))) {
      }
      {
        std::lock_guard l(retireMutex_);
        entry->hosted.reset();
      }
      h.reset();  // the last reference, unless shutdown() holds a snapshot: stops and frees it
    });
    retiring_.push_back(std::move(r));
  }

  // The table entry of exactly (name, variant), or end(). The caller holds tableMutex_.
  std::vector<std::shared_ptr<Hosted>>::iterator findHosted(const std::string& name, const std::string& variant) {
    return std::find_if(hosted_.begin(), hosted_.end(),
                        [&](const auto& h) { return h->name == name && h->variant == variant; });
  }

  StatusOr<Hosted*> resolve(const std::string& model, const std::string& variant) const {
    const std::string& name = model.empty() ? defaultModel_ : model;
    std::vector<Hosted*> variants;
    for (const auto& h : hosted_) {
      if (h->name == name) variants.push_back(h.get());
    }
    if (variants.empty()) {
      std::set<std::string> sorted;
      for (const auto& h : hosted_) sorted.insert(h->name);
      std::string names;
      for (const auto& n : sorted) names += (names.empty() ? "" : ", ") + n;
      return notFound("model '" + name + "' is not hosted (hosted: " + names + ")");
    }
    const std::string want = variant.empty() ? "dense" : variant;
    for (Hosted* h : variants) {
      if (h->variant == want) return h;
    }
    if (variant.empty()) return variants.front();
    std::string names;
    for (Hosted* h : variants) names += (names.empty() ? "" : ", ") + h->variant;
    return notFound("model '" + name + "' has no variant '" + variant + "' (variants: " + names + ")");
  }

  Status buildJob(const Hosted& h, GenerateRequest r, GenerateJob& job) const {
    const SchedulerOptions& o = h.scheduler->options();
    const ModelInfo& info = h.scheduler->info();
    if (r.promptText && !r.promptTokens.empty()) {
      return invalidArgument("prompt: give either the text or the token ids, not both");
    }
    if (r.promptText) {
      if (r.promptText->empty()) return invalidArgument("prompt must not be empty");
      if (!h.tokenizer) return invalidArgument("prompt: model " + h.name + " has no tokenizer; send token ids");
      job.prompt = h.tokenizer->encode(*r.promptText);
    } else {
      job.prompt = std::move(r.promptTokens);
    }
    if (job.prompt.empty()) return invalidArgument("prompt must not be empty");
    MAMBA_RETURN_IF_ERROR(checkIds(job.prompt, "prompt_tokens", info.vocabSize));
    if (static_cast<int64_t>(job.prompt.size()) > o.maxPromptTokens) {
      return invalidArgument("prompt has " + std::to_string(job.prompt.size()) +
                             " tokens, more than the limit of " + std::to_string(o.maxPromptTokens));
    }
    MAMBA_RETURN_IF_ERROR(validateSamplingParams(r.sampling, h.scheduler->sampleVocab(), o.maxNewTokensLimit));
    if (!r.sampling.stopStrings.empty() && !h.tokenizer) {
      return invalidArgument("sampling.stop_strings: model " + h.name + " has no tokenizer to match them");
    }
    job.model = h.name;
    job.variant = h.variant;
    job.sampling = std::move(r.sampling);
    job.deadline = r.deadline;
    return Status::ok();
  }

  // lm-evaluation-harness: context and continuation are encoded separately and concatenated;
  // an empty context is replaced by the EOS token, as the harness does.
  StatusOr<std::vector<ScoreJob::Item>> buildScoreItems(const Hosted& h, const ScoreRequest& r) const {
    const ModelInfo& info = h.scheduler->info();
    auto encode = [&](const std::string& text, const std::string& field) -> StatusOr<std::vector<int32_t>> {
      if (!h.tokenizer) return invalidArgument(field + ": model " + h.name + " has no tokenizer; send token ids");
      return h.tokenizer->encode(text);
    };
    std::vector<int32_t> context = r.contextTokens;
    if (context.empty() && !r.context.empty()) {
      MAMBA_ASSIGN_OR_RETURN(context, encode(r.context, "context"));
    }
    MAMBA_RETURN_IF_ERROR(checkIds(context, "context_tokens", info.vocabSize));
    if (context.empty()) {
      if (info.eosTokenIds.empty()) {
        return invalidArgument("context must not be empty (model " + h.name + " has no EOS token to stand in)");
      }
      context.push_back(info.eosTokenIds.front());
    }
    std::vector<ScoreJob::Item> items;
    const bool text = !r.continuations.empty();
    const size_t n = text ? r.continuations.size() : r.continuationTokens.size();
    if (n == 0) return invalidArgument("continuations: at least one continuation is required");
    for (size_t i = 0; i < n; ++i) {
      const std::string field = (text ? "continuations[" : "continuation_tokens[") + std::to_string(i) + "]";
      ScoreJob::Item item;
      std::vector<int32_t> cont;
      if (text) {
        if (r.continuations[i].empty()) return invalidArgument(field + " must not be empty");
        MAMBA_ASSIGN_OR_RETURN(cont, encode(r.continuations[i], field));
        item.numBytes = static_cast<int64_t>(r.continuations[i].size());
      } else {
        cont = r.continuationTokens[i];
        if (cont.empty()) return invalidArgument(field + " must not be empty");
        MAMBA_RETURN_IF_ERROR(checkIds(cont, field, info.vocabSize));
        item.numBytes = h.tokenizer ? static_cast<int64_t>(h.tokenizer->decode(cont).size()) : 0;
      }
      item.contextLen = context.size();
      item.tokens = context;
      item.tokens.insert(item.tokens.end(), cont.begin(), cont.end());
      const int64_t maxTokens = h.scheduler->options().maxPromptTokens;
      if (static_cast<int64_t>(item.tokens.size()) > maxTokens) {
        return invalidArgument(field + ": context plus continuation has " + std::to_string(item.tokens.size()) +
                               " tokens, more than the limit of " + std::to_string(maxTokens));
      }
      items.push_back(std::move(item));
    }
    return items;
  }

  // The table: read (shared) by every call that resolves a model, written (exclusive) by a
  // swap or an unload. Configuration order, swapped models in place, loaded ones appended.
  mutable std::shared_mutex tableMutex_;
  std::vector<std::shared_ptr<Hosted>> hosted_;
  const std::string defaultModel_;
  const SchedulerOptions scheduler_;
  metrics::ServingMetrics* const metrics_;
  std::mutex loadMutex_;  // one loadModel() at a time
  mutable std::mutex retireMutex_;
  std::vector<std::unique_ptr<Retiring>> retiring_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> shutdown_{false};
};

}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::create(const EngineOptions& options, metrics::ServingMetrics* metrics) {
  if (options.models.empty()) return invalidArgument("models: at least one model is required");
  MAMBA_RETURN_IF_ERROR(validateSchedulerOptions(options.scheduler));
  if (options.cpuThreads < 0) return invalidArgument("engine.cpu_threads: must be a non-negative integer");
  if (options.cpuThreads > 0) setCpuThreads(static_cast<int>(options.cpuThreads));
  std::vector<std::shared_ptr<Hosted>> hosted;
  for (size_t i = 0; i < options.models.size(); ++i) {
    const std::string where = "models[" + std::to_string(i) + "]";
    MAMBA_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> h, loadHosted(options.models[i], options.scheduler, metrics, where));
    for (const auto& other : hosted) {
      if (other->name == h->name && other->variant == h->variant) {
        return invalidArgument(where + ": model '" + h->name + "' variant '" + h->variant + "' is listed twice");
      }
    }
    hosted.push_back(std::move(h));
  }
  std::string defaultModel = options.defaultModel.empty() ? hosted.front()->name : options.defaultModel;
  bool found = false;
  for (const auto& h : hosted) found = found || h->name == defaultModel;
  if (!found) return invalidArgument("default_model: '" + defaultModel + "' is not among the models");
  return std::unique_ptr<Engine>(
      new EngineImpl(std::move(hosted), std::move(defaultModel), options.scheduler, metrics));
}

}  // namespace mamba
