// Client-side helpers of the RPC tests: request builders and blocking calls that collect
// everything a call returned.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mamba/serving/v1/inference.grpc.pb.h"

namespace mamba::rpctest {

namespace pb = ::mamba::serving::v1;

// Greedy request on token ids with ignore_eos (always max_new_tokens tokens).
pb::GenerateRequest greedyRequest(const std::vector<int32_t>& prompt, int32_t maxNewTokens);
// Deterministic pseudo-random prompt of n ids in [1, 256).
std::vector<int32_t> promptIds(size_t n, uint32_t seed);

struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::string> textDeltas;
  std::vector<pb::TokenLogprob> logprobs;
  int chunks = 0;
  std::optional<pb::GenerateFinal> final;
  bool finalWasLast = true;  // nothing followed the final message
};

// A GenerateStream call read to the end; `timeout` becomes the call's deadline.
StreamResult runStream(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

struct UnaryResult {
  grpc::Status status;
  pb::GenerateResponse response;
};
UnaryResult runUnary(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool isValidUtf8(const std::string& s);

std::chrono::system_clock::time_point deadlineIn(std::chrono::milliseconds timeout);

}  // namespace mamba::rpctest
