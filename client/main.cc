// mamba-cli: a gRPC client for mamba-server (generate, score, models, health, bench).
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "client/admin_commands.h"
#include "client/bench.h"
#include "client/channel.h"
#include "client/cli_error.h"
#include "client/commands.h"

namespace {

using namespace mamba::client;

template <typename T>
void optionalOption(CLI::App* app, const std::string& name, std::optional<T>* target,
                    const std::string& help) {
  app->add_option_function<T>(name, [target](const T& v) { *target = v; }, help);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mamba-cli: client for mamba-server (mamba.serving.v1.Inference)"};
  app.require_subcommand(1);
  std::string target = "127.0.0.1:50051";
  double timeout = 0;
  double connectTimeout = 5;
  app.add_option("--target", target, "server address HOST:PORT")->capture_default_str();
  app.add_option("--timeout", timeout, "deadline per call in seconds (0: none)");
  app.add_option("--connect-timeout", connectTimeout,
                 "seconds to wait for the connection before the first call (at most --timeout)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ConnectOptions connect;
  app.add_flag("--tls", connect.tls, "connect with TLS, verifying the server against the system's roots");
  app.add_option("--tls-ca", connect.tlsCaFile, "connect with TLS, verifying the server against these PEM roots");

  GenerateOptions gen;
  std::string genTokens;
  bool streamFlag = false;
  auto* generate = app.add_subcommand("generate", "generate a completion (streamed by default)");
  generate->add_option("prompt", gen.prompt, "prompt text");
  generate->add_option("--tokens", genTokens, "prompt as comma-separated token ids instead");
  generate->add_option("--model", gen.model, "model (default: the server's default)");
  generate->add_option("--variant", gen.variant, "variant (default: dense)");
  generate->add_flag("--stream", streamFlag, "stream text as it arrives (the default)");
  generate->add_flag("--unary", gen.unary, "one Generate call; print the text at the end");
  optionalOption(generate, "-n,--max-new-tokens", &gen.maxNewTokens, "tokens to generate (server default 128)");
  optionalOption(generate, "-t,--temperature", &gen.temperature, "0 = greedy (server default 1)");
  optionalOption(generate, "--top-k", &gen.topK, "top-k (0 = off)");
  optionalOption(generate, "--top-p", &gen.topP, "nucleus sampling (1 = off)");
  optionalOption(generate, "--min-p", &gen.minP, "min-p (0 = off)");
  optionalOption(generate, "--repetition-penalty", &gen.repetitionPenalty, "1 = off");
  optionalOption(generate, "--seed", &gen.seed, "sampling seed");
  generate->add_option("--stop", gen.stop, "stop string (repeatable)");
  generate->add_option("--stop-token-id", gen.stopTokenIds, "stop token id (repeatable)");
  generate->add_flag("--ignore-eos", gen.ignoreEos, "do not stop at EOS");
  generate->add_option("--logprobs", gen.logprobs, "print per-token logprobs with N alternatives");
  generate->add_flag("-q,--quiet", gen.quiet, "no timing summary on stderr");

  ScoreOptions score;
  auto* scoreCmd = app.add_subcommand("score", "log-probabilities of continuations given a context");
  scoreCmd->add_option("--context", score.context, "context text")->required();
  scoreCmd->add_option("--continuation", score.continuations, "continuation text (repeatable)")->required();
  scoreCmd->add_option("--model", score.model, "model");
  scoreCmd->add_option("--variant", score.variant, "variant");
  scoreCmd->add_flag("--json", score.json, "print JSON");

  bool modelsJson = false;
  auto* models = app.add_subcommand("models", "list the hosted models and variants");
  models->add_flag("--json", modelsJson, "print JSON");

  std::string healthService;
  auto* health = app.add_subcommand("health", "grpc.health.v1 check (exit 0 when SERVING)");
  health->add_option("--service", healthService, "service name (default: the whole server)");

  BenchOptions bench;
  std::string promptLen = "32", outputLen = "64", jsonPath;
  auto* benchCmd = app.add_subcommand("bench", "bounded load generator (streaming; TTFT/TPOT/e2e)");
  benchCmd->add_option("-c,--concurrency", bench.concurrency, "concurrent streams")->capture_default_str();
  benchCmd->add_option("-r,--requests", bench.requests, "requests to send (0: until --duration)")->capture_default_str();
  benchCmd->add_option("-d,--duration", bench.durationSeconds, "seconds to run (0: until --requests)");
  benchCmd->add_option("--prompt-tokens", promptLen, "prompt length: N or LO:HI (uniform)")->capture_default_str();
  benchCmd->add_option("--output-tokens", outputLen, "max_new_tokens: N or LO:HI (uniform)")->capture_default_str();
  benchCmd->add_option("--model", bench.model, "model");
  benchCmd->add_option("--variant", bench.variant, "variant");
  benchCmd->add_option("-t,--temperature", bench.temperature, "sampling temperature")->capture_default_str();
  benchCmd->add_option("--seed", bench.seed, "seed for prompts and sampling")->capture_default_str();
  benchCmd->add_option("--warmup", bench.warmupRequests, "unmeasured requests sent first")->capture_default_str();
  benchCmd->add_option("--json", jsonPath, "also write the report as JSON to this file ('-': stdout)");

  AdminOptions adminOptions;
  addAdminCommands(app, &adminOptions);

  CLI11_PARSE(app, argc, argv);

  try {
    connect.connectSeconds = connectWait(connectTimeout, timeout);
    if (adminOptions.command->parsed()) return runAdmin(adminOptions, timeout, connect);
    auto channel = connectedChannel(target, connect);
    if (*generate) {
      if (gen.prompt.empty() && genTokens.empty()) throw CliError("generate: give a PROMPT or --tokens");
      if (!genTokens.empty()) {
        for (const auto& part : CLI::detail::split(genTokens, ',')) gen.promptTokens.push_back(std::stoi(part));
      }
      gen.timeoutSeconds = timeout;
      return runGenerate(channel, gen);
    }
    if (*scoreCmd) {
      score.timeoutSeconds = timeout;
      return runScore(channel, score);
    }
    if (*models) return runModels(channel, modelsJson, timeout);
    if (*health) return runHealth(channel, healthService, timeout);
    if (*benchCmd) {
      bench.promptTokens = LengthDistribution::parse(promptLen, "--prompt-tokens");
      bench.outputTokens = LengthDistribution::parse(outputLen, "--output-tokens");
      if (timeout > 0) bench.requestTimeoutSeconds = timeout;
      BenchReport report = runBench(bench, channel, target);
      std::cout << formatReport(report);
      if (!jsonPath.empty()) {
        const std::string text = reportToJson(report).dump(2) + "\n";
        if (jsonPath == "-") {
          std::cout << text;
        } else {
          std::ofstream out(jsonPath);
          if (!out) throw CliError("--json: cannot write " + jsonPath);
          out << text;
        }
      }
      return report.failed == 0 ? 0 : 1;
    }
  } catch (const CliError& e) {
    std::fprintf(stderr, "mamba-cli: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mamba-cli: %s\n", e.what());
    return 1;
  }
  return 0;
}
