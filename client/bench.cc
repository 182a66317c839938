#include "client/bench.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "client/call_deadline.h"
#include "client/cli_error.h"
#include "mamba/serving/v1/inference.grpc.pb.h"

namespace mamba::client {
namespace {

namespace pb = ::mamba::serving::v1;
using Clock = std::chrono::steady_clock;

struct Sample {
  bool ok = false;
  std::string error;
  double ttft = 0, tpot = 0, e2e = 0;
  bool hasTpot = false;
  int64_t promptTokens = 0, outputTokens = 0;
  double serverTtft = 0, serverTpot = 0, serverQueue = 0;
};

struct ModelTarget {
  std::string model, variant;
  int64_t vocab = 0;
  std::vector<int32_t> eos;
};

ModelTarget resolveModel(pb::Inference::Stub& stub, const BenchOptions& options) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::ListModelsResponse models;
  grpc::Status s = stub.ListModels(&ctx, pb::ListModelsRequest(), &models);
  if (!s.ok()) throw CliError("ListModels: " + describe(s));
  const std::string name = options.model.empty() ? models.default_model() : options.model;
  for (const auto& m : models.models()) {
    if (m.name() != name) continue;
    for (const auto& v : m.variants()) {
      if (!options.variant.empty() && v.variant() != options.variant) continue;
      ModelTarget t{name, v.variant(), v.vocab_size(), {v.eos_token_ids().begin(), v.eos_token_ids().end()}};
      if (t.vocab <= 0) throw CliError("model " + name + " reports no vocabulary");
      return t;
    }
  }
  throw CliError("model " + name + (options.variant.empty() ? "" : " variant " + options.variant) +
                 " is not served by the target");
}

pb::GenerateRequest makeRequest(const BenchOptions& options, const ModelTarget& target,
                                std::mt19937_64& rng) {
  pb::GenerateRequest req;
  req.set_model(target.model);
  req.set_variant(target.variant);
  const int64_t promptLen = options.promptTokens.sample(rng);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(target.vocab - 1));
  auto* ids = req.mutable_prompt_tokens();
  while (ids->ids_size() < promptLen) {
    const int32_t t = id(rng);
    bool isEos = false;
    for (int32_t e : target.eos) isEos = isEos || e == t;
    if (!isEos) ids->add_ids(t);
  }
  req.set_max_new_tokens(static_cast<int32_t>(options.outputTokens.sample(rng)));
  req.set_ignore_eos(options.ignoreEos);
  req.mutable_sampling()->set_temperature(options.temperature);
  req.mutable_sampling()->set_seed(rng());
  return req;
}

Sample runOne(pb::Inference::Stub& stub, const pb::GenerateRequest& req, double timeoutSeconds) {
  Sample sample;
  sample.promptTokens = req.prompt_tokens().ids_size();
  grpc::ClientContext ctx;
  setTimeout(&ctx, timeoutSeconds);
  const auto start = Clock::now();
  auto reader = stub.GenerateStream(&ctx, req);
  pb::GenerateStreamResponse msg;
  Clock::time_point first{}, last{};
  bool sawFinal = false;
  while (reader->Read(&msg)) {
    const auto now = Clock::now();
    if (msg.has_chunk() && msg.chunk().token_ids_size() > 0) {
      if (sample.outputTokens == 0) first = now;
      last = now;
      sample.outputTokens += msg.chunk().token_ids_size();
    } else if (msg.has_final()) {
      sawFinal = true;
      sample.serverTtft = msg.final().timing().ttft_seconds();
      sample.serverTpot = msg.final().timing().mean_tpot_seconds();
      sample.serverQueue = msg.final().timing().queue_seconds();
    }
  }
  grpc::Status s = reader->Finish();
  const auto end = Clock::now();
  if (!s.ok() || !sawFinal) {
    sample.error = s.ok() ? "NO_FINAL_MESSAGE" : grpcCodeName(s.error_code());
    return sample;
  }
  sample.ok = true;
  sample.e2e = std::chrono::duration<double>(end - start).count();
  if (sample.outputTokens > 0) sample.ttft = std::chrono::duration<double>(first - start).count();
  if (sample.outputTokens > 1) {
    sample.hasTpot = true;
    sample.tpot = std::chrono::duration<double>(last - first).count() /
                  static_cast<double>(sample.outputTokens - 1);
  }
  return sample;
}

nlohmann::json summaryJson(const LatencySummary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"min", s.min}, {"p50", s.p50},
          {"p90", s.p90},     {"p99", s.p99},   {"max", s.max}};
}

}  // namespace

BenchReport runBench(const BenchOptions& options,
                               const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& target) {
  if (options.concurrency < 1) throw CliError("--concurrency: must be >= 1");
  if (options.requests <= 0 && options.durationSeconds <= 0) {
    throw CliError("--requests or --duration: one bound is required");
  }
  auto stub = pb::Inference::NewStub(channel);
  const ModelTarget model = resolveModel(*stub, options);

  std::mt19937_64 warmRng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  for (int64_t i = 0; i < options.warmupRequests; ++i) {
    Sample s = runOne(*stub, makeRequest(options, model, warmRng), options.requestTimeoutSeconds);
    if (!s.ok) throw CliError("warm-up request failed: " + s.error);
  }

  std::atomic<int64_t> next{0};
  std::mutex mutex;
  std::vector<Sample> samples;
  const auto start = Clock::now();
  const auto stopAt = options.durationSeconds > 0
      ? start + std::chrono::milliseconds(static_cast<int64_t>(options.durationSeconds * 1000))
      : Clock::time_point::max();
  std::vector<std::thread> workers;
  for (int w = 0; w < options.concurrency; ++w) {
    workers.emplace_back([&, w] {
      for (;;) {
        const int64_t index = next.fetch_add(1);
        if (options.requests > 0 && index >= options.requests) return;
        if (Clock::now() >= stopAt) return;
        // Each request's prompt depends only on (seed, index): runs are reproducible.
        std::mt19937_64 rng(options.seed * 1000003ULL + static_cast<uint64_t>(index));
        Sample s = runOne(*stub, makeRequest(options, model, rng), options.requestTimeoutSeconds);
        std::lock_guard<std::mutex> lock(mutex);
        samples.push_back(std::move(s));
      }
      (void)w;
    });
  }
  for (auto& t : workers) t.join();

  BenchReport r;
  r.options = options;
  r.target = target;
  r.model = model.model;
  r.variant = model.variant;
  r.wallSeconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> ttft, tpot, e2e, sTtft, sTpot, sQueue;
  for (const Sample& s : samples) {
    if (!s.ok) {
      ++r.failed;
      ++r.errors[s.error];
      continue;
    }
    ++r.succeeded;
    r.promptTokens += s.promptTokens;
    r.outputTokens += s.outputTokens;
    if (s.outputTokens > 0) ttft.push_back(s.ttft);
    if (s.hasTpot) tpot.push_back(s.tpot);
    e2e.push_back(s.e2e);
    sTtft.push_back(s.serverTtft);
    if (s.hasTpot) sTpot.push_back(s.serverTpot);
    sQueue.push_back(s.serverQueue);
  }
  r.ttft = summarize(ttft);
  r.tpot = summarize(tpot);
  r.e2e = summarize(e2e);
  r.serverTtft = summarize(sTtft);
  r.serverTpot = summarize(sTpot);
  r.serverQueue = summarize(sQueue);
  if (r.wallSeconds > 0) {
    r.requestsPerSecond = static_cast<double>(r.succeeded) / r.wallSeconds;
    r.outputTokensPerSecond = static_cast<double>(r.outputTokens) / r.wallSeconds;
    r.totalTokensPerSecond = static_cast<double>(r.outputTokens + r.promptTokens) / r.wallSeconds;
  }
  return r;
}

std::string formatReport(const BenchReport& r) {
  std::ostringstream out;
  char line[256];
  out << "target " << r.target << "  model " << r.model << " (" << r.variant << ")\n";
  out << "concurrency " << r.options.concurrency << "  prompt tokens "
      << r.options.promptTokens.describe() << "  output tokens " << r.options.outputTokens.describe()
      << "  temperature " << r.options.temperature << "\n";
  std::snprintf(line, sizeof(line),
                "requests %lld ok, %lld failed in %.2f s: %.2f req/s, %.1f output tok/s, %.1f total tok/s\n",
                static_cast<long long>(r.succeeded), static_cast<long long>(r.failed),
                r.wallSeconds, r.requestsPerSecond, r.outputTokensPerSecond, r.totalTokensPerSecond);
  out << line;
  for (const auto& [code, n] : r.errors) out << "  error " << code << ": " << n << "\n";
  std::snprintf(line, sizeof(line), "%-22s %10s %10s %10s %10s %10s\n", "latency (ms)", "mean",
                "p50", "p90", "p99", "max");
  out << line;
  auto row = [&](const char* name, const LatencySummary& s) {
    std::snprintf(line, sizeof(line), "%-22s %10.3f %10.3f %10.3f %10.3f %10.3f\n", name,
                  s.mean * 1e3, s.p50 * 1e3, s.p90 * 1e3, s.p99 * 1e3, s.max * 1e3);
    out << line;
  };
  row("TTFT", r.ttft);
  row("TPOT", r.tpot);
  row("e2e", r.e2e);
  row("server TTFT", r.serverTtft);
  row("server TPOT", r.serverTpot);
  row("server queue", r.serverQueue);
  return out.str();
}

nlohmann::json reportToJson(const BenchReport& r) {
  return {
      {"target", r.target},
      {"model", r.model},
      {"variant", r.variant},
      {"concurrency", r.options.concurrency},
      {"requests_limit", r.options.requests},
      {"duration_limit_seconds", r.options.durationSeconds},
      {"prompt_tokens_distribution", r.options.promptTokens.describe()},
      {"output_tokens_distribution", r.options.outputTokens.describe()},
      {"temperature", r.options.temperature},
      {"ignore_eos", r.options.ignoreEos},
      {"wall_seconds", r.wallSeconds},
      {"succeeded", r.succeeded},
      {"failed", r.failed},
      {"errors", r.errors},
      {"prompt_tokens", r.promptTokens},
      {"output_tokens", r.outputTokens},
      {"requests_per_second", r.requestsPerSecond},
      {"output_tokens_per_second", r.outputTokensPerSecond},
      {"total_tokens_per_second", r.totalTokensPerSecond},
      {"ttft_seconds", summaryJson(r.ttft)},
      {"tpot_seconds", summaryJson(r.tpot)},
      {"e2e_seconds", summaryJson(r.e2e)},
      {"server_ttft_seconds", summaryJson(r.serverTtft)},
      {"server_tpot_seconds", summaryJson(r.serverTpot)},
      {"server_queue_seconds", summaryJson(r.serverQueue)},
  };
}

}  // namespace mamba::client
