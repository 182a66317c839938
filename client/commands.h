// The subcommands of mamba-cli other than bench. Each returns the process exit code and
// throws CliError for errors worth a message (printed by main as "mamba-cli: ...").
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mamba::client {

struct GenerateOptions {
  std::string prompt;                    // text prompt
  std::vector<int32_t> promptTokens;     // --tokens: used instead of prompt when non-empty
  std::string model, variant;
  bool unary = false;                    // Generate instead of GenerateStream
  std::optional<int32_t> maxNewTokens;
  std::optional<float> temperature, topP, minP, repetitionPenalty;
  std::optional<int32_t> topK;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stopTokenIds;
  bool ignoreEos = false;
  int32_t logprobs = -1;                 // -1: off; N >= 0: per-token logprob and N alternatives
  bool quiet = false;                    // no timing summary on stderr
  double timeoutSeconds = 0;             // 0: no deadline
};
int runGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateOptions& options);

struct ScoreOptions {
  std::string context;
  std::vector<std::string> continuations;
  std::string model, variant;
  bool json = false;
  double timeoutSeconds = 0;
};
int runScore(const std::shared_ptr<grpc::Channel>& channel, const ScoreOptions& options);

int runModels(const std::shared_ptr<grpc::Channel>& channel, bool json, double timeoutSeconds);

// Prints SERVING / NOT_SERVING / ...; exit code 0 only for SERVING.
int runHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
              double timeoutSeconds);

}  // namespace mamba::client
