// `mamba-cli bench`: a bounded closed-loop load generator. `concurrency` workers each keep one
// GenerateStream in flight until `requests` have been sent or `duration` has passed. Prompts
// are random token ids (excluding EOS) with lengths drawn from a distribution; outputs are
// max_new_tokens drawn from another, with ignore_eos so that each runs to its length.
// Latencies are measured client-side from the stream: TTFT = send -> first token,
// TPOT = (last token - first token) / (tokens - 1), e2e = send -> final message.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "client/latency_stats.h"
#include "client/length_distribution.h"

namespace mamba::client {

struct BenchOptions {
  std::string model, variant;
  int concurrency = 1;
  int64_t requests = 64;                // 0 => until duration
  double durationSeconds = 0;           // 0 => until requests
  LengthDistribution promptTokens{32, 32};
  LengthDistribution outputTokens{64, 64};
  float temperature = 0.0f;             // greedy by default
  uint64_t seed = 1;                    // prompt and sampling seeds derive from it
  bool ignoreEos = true;
  int64_t warmupRequests = 0;           // sent first (one at a time), not measured
  double requestTimeoutSeconds = 600;
};

struct BenchReport {
  BenchOptions options;
  std::string target, model, variant;
  double wallSeconds = 0;
  int64_t succeeded = 0, failed = 0;
  std::map<std::string, int64_t> errors;  // status code name -> count
  int64_t promptTokens = 0, outputTokens = 0;
  LatencySummary ttft, tpot, e2e;                  // client-side
  LatencySummary serverTtft, serverTpot, serverQueue;  // from the final messages
  double requestsPerSecond = 0, outputTokensPerSecond = 0, totalTokensPerSecond = 0;
};

// Throws CliError when the target cannot be used (no such model, failed warm-up).
BenchReport runBench(const BenchOptions& options,
                               const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& target);

std::string formatReport(const BenchReport& report);
nlohmann::json reportToJson(const BenchReport& report);

}  // namespace mamba::client
