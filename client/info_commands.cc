// score, models and health.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "client/call_deadline.h"
#include "client/cli_error.h"
#include "client/commands.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mamba/serving/v1/inference.grpc.pb.h"

namespace mamba::client {
namespace {

namespace pb = ::mamba::serving::v1;

}  // namespace

int runScore(const std::shared_ptr<grpc::Channel>& channel, const ScoreOptions& o) {
  if (o.continuations.empty()) throw CliError("score: at least one --continuation is required");
  auto stub = pb::Inference::NewStub(channel);
  pb::ScoreRequest req;
  req.set_model(o.model);
  req.set_variant(o.variant);
  req.set_context_text(o.context);
  for (const auto& c : o.continuations) req.add_continuations(c);
  grpc::ClientContext ctx;
  setTimeout(&ctx, o.timeoutSeconds);
  pb::ScoreResponse resp;
  grpc::Status s = stub->Score(&ctx, req, &resp);
  if (!s.ok()) throw CliError("Score: " + describe(s));
  if (o.json) {
    nlohmann::json out = {{"model", resp.model()}, {"variant", resp.variant()}, {"scores", nlohmann::json::array()}};
    for (int i = 0; i < resp.scores_size(); ++i) {
      const auto& sc = resp.scores(i);
      out["scores"].push_back({{"continuation", o.continuations[i]}, {"logprob", sc.logprob()},
                               {"is_greedy", sc.is_greedy()}, {"num_tokens", sc.num_tokens()},
                               {"num_bytes", sc.num_bytes()}});
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-4s %12s %8s %7s %6s %12s  %s\n", "#", "logprob", "greedy", "tokens", "bytes",
              "per-byte", "continuation");
  for (int i = 0; i < resp.scores_size(); ++i) {
    const auto& sc = resp.scores(i);
    const double perByte = sc.num_bytes() > 0 ? sc.logprob() / static_cast<double>(sc.num_bytes()) : 0;
    std::printf("%-4d %12.4f %8s %7lld %6lld %12.4f  %s\n", i, sc.logprob(),
                sc.is_greedy() ? "yes" : "no", static_cast<long long>(sc.num_tokens()),
                static_cast<long long>(sc.num_bytes()), perByte, o.continuations[i].c_str());
  }
  return 0;
}

int runModels(const std::shared_ptr<grpc::Channel>& channel, bool json, double timeoutSeconds) {
  auto stub = pb::Inference::NewStub(channel);
  grpc::ClientContext ctx;
  setTimeout(&ctx, timeoutSeconds);
  pb::ListModelsResponse resp;
  grpc::Status s = stub->ListModels(&ctx, pb::ListModelsRequest(), &resp);
  if (!s.ok()) throw CliError("ListModels: " + describe(s));
  if (json) {
    nlohmann::json out = {{"default_model", resp.default_model()}, {"models", nlohmann::json::array()}};
    for (const auto& m : resp.models()) {
      nlohmann::json variants = nlohmann::json::array();
      for (const auto& v : m.variants()) {
        variants.push_back({{"variant", v.variant()}, {"path", v.path()}, {"dtype", v.dtype()},
                            {"device", v.device()}, {"n_layer", v.n_layer()}, {"d_model", v.d_model()},
                            {"state_sizes", std::vector<int64_t>(v.state_sizes().begin(), v.state_sizes().end())},
                            {"vocab_size", v.vocab_size()}, {"parameter_count", v.parameter_count()},
                            {"state_bytes_per_sequence", v.state_bytes_per_sequence()},
                            {"num_slots", v.num_slots()}});
      }
      out["models"].push_back({{"name", m.name()}, {"variants", variants}});
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::printf("default model: %s\n", resp.default_model().c_str());
  for (const auto& m : resp.models()) {
    for (const auto& v : m.variants()) {
      std::string sizes;
      for (int i = 0; i < v.state_sizes_size(); ++i) {
        if (i > 0) sizes += ',';
        sizes += std::to_string(v.state_sizes(i));
      }
      std::printf("%s (%s): %s on %s, %lld layers, d_model %lld, vocab %lld, %lld params, "
                  "%lld slots, %lld state bytes/seq, state sizes [%s]\n  path %s\n",
                  m.name().c_str(), v.variant().c_str(), v.dtype().c_str(), v.device().c_str(),
                  static_cast<long long>(v.n_layer()), static_cast<long long>(v.d_model()),
                  static_cast<long long>(v.vocab_size()), static_cast<long long>(v.parameter_count()),
                  static_cast<long long>(v.num_slots()),
                  static_cast<long long>(v.state_bytes_per_sequence()), sizes.c_str(), v.path().c_str());
    }
  }
  return 0;
}

int runHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
              double timeoutSeconds) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  setTimeout(&ctx, timeoutSeconds > 0 ? timeoutSeconds : 5);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) throw CliError("Health.Check: " + describe(s));
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()) << std::endl;
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace mamba::client
