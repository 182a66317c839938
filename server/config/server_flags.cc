#include "server/config/server_flags.h"

#include <sstream>

#include "server/config/default_model.h"

namespace mamba::config {
namespace {

template <typename T>
void optionalOption(CLI::App& app, const std::string& name, std::optional<T>* target,
                    const std::string& help) {
  app.add_option_function<T>(name, [target](const T& value) { *target = value; }, help);
}

Status flagError(const std::string& flag, const std::optional<std::string>& error) {
  if (!error) return Status::ok();
  return invalidArgument(flag + ": " + *error);
}

Status positive(const std::string& flag, const std::optional<int64_t>& value) {
  if (value && *value < 1) {
    return invalidArgument(flag + ": must be a positive integer, got " + std::to_string(*value));
  }
  return Status::ok();
}

Status applyModelFlags(const ServerFlags& flags, ServerConfig* config) {
  if (flags.model) {
    ModelConfig model;
    model.path = std::filesystem::path(*flags.model).lexically_normal().string();
    model.name = modelNameFromPath(model.path);
    config->models = {model};
    config->defaultModel.clear();
  }
  if (flags.dtype) {
    std::string dtype = *flags.dtype;
    MAMBA_RETURN_IF_ERROR(flagError("--dtype", checkDtype(&dtype)));
    for (auto& m : config->models) m.dtype = dtype;
  }
  if (flags.device) {
    MAMBA_RETURN_IF_ERROR(flagError("--device", checkDevice(*flags.device)));
    for (auto& m : config->models) m.device = *flags.device;
  }
  if (!flags.variants.empty()) {
    MAMBA_RETURN_IF_ERROR(flagError("--variants", checkVariants(flags.variants)));
    for (auto& m : config->models) m.variants = flags.variants;
  }
  MAMBA_RETURN_IF_ERROR(positive("--slots", flags.slots));
  if (flags.slots) {
    for (auto& m : config->models) m.slots = *flags.slots;
  }
  if (flags.tokenizer) {
    for (auto& m : config->models) m.tokenizer = *flags.tokenizer;
  }
  if (flags.name) {
    if (config->models.size() != 1) {
      return invalidArgument("--name: applies to exactly one model, but " +
                             std::to_string(config->models.size()) + " are configured");
    }
    if (flags.name->empty()) return invalidArgument("--name: must not be empty");
    config->models[0].name = *flags.name;
  }
  if (flags.defaultModel) config->defaultModel = *flags.defaultModel;
  return Status::ok();
}

Status applyServerFlags(const ServerFlags& flags, ServerConfig* config) {
  if (flags.listen) {
    MAMBA_RETURN_IF_ERROR(flagError("--listen", checkListenAddress(*flags.listen)));
    config->grpcListen = *flags.listen;
  }
  if (flags.metricsListen) {
    MAMBA_RETURN_IF_ERROR(flagError("--metrics-listen", checkListenAddress(*flags.metricsListen)));
    config->metricsListen = *flags.metricsListen;
    config->metricsEnabled = true;
  }
  if (flags.noMetrics) config->metricsEnabled = false;
  if (flags.adminListen) {
    MAMBA_RETURN_IF_ERROR(flagError("--admin-listen", checkListenAddress(*flags.adminListen)));
    config->adminListen = *flags.adminListen;
    config->adminEnabled = true;
  }
  if (flags.adminTokenFile) config->adminTokenFile = *flags.adminTokenFile;
  if (flags.tlsCert) config->tlsCertFile = *flags.tlsCert;
  if (flags.tlsKey) config->tlsKeyFile = *flags.tlsKey;
  if (flags.noAdmin) config->adminEnabled = false;
  MAMBA_RETURN_IF_ERROR(positive("--max-batch", flags.maxBatch));
  MAMBA_RETURN_IF_ERROR(positive("--max-queued", flags.maxQueued));
  MAMBA_RETURN_IF_ERROR(positive("--prefill-chunk-tokens", flags.prefillChunkTokens));
  MAMBA_RETURN_IF_ERROR(positive("--score-workers", flags.scoreWorkers));
  MAMBA_RETURN_IF_ERROR(positive("--max-new-tokens-limit", flags.maxNewTokensLimit));
  if (flags.maxBatch) config->scheduler.maxBatch = *flags.maxBatch;
  if (flags.maxQueued) config->scheduler.maxQueued = *flags.maxQueued;
  if (flags.prefillChunkTokens) config->scheduler.prefillChunkTokens = *flags.prefillChunkTokens;
  if (flags.scoreWorkers) config->scoreWorkers = *flags.scoreWorkers;
  if (flags.pipelineDecode) config->scheduler.pipelineDecode = *flags.pipelineDecode;
  if (flags.idleSpinUs) {
    if (*flags.idleSpinUs < 0 || *flags.idleSpinUs > SchedulerOptions::kMaxIdleSpinMicros) {
      return invalidArgument("--idle-spin-us: must be an integer in [0, " +
                             std::to_string(SchedulerOptions::kMaxIdleSpinMicros) + "]");
    }
    config->scheduler.idleSpinMicros = *flags.idleSpinUs;
  }
  if (flags.cpuThreads) {
    if (*flags.cpuThreads < 0) return invalidArgument("--cpu-threads: must be a non-negative integer");
    config->cpuThreads = *flags.cpuThreads;
  }
  if (flags.maxNewTokensLimit) {
    if (*flags.maxNewTokensLimit > 2147483647) {
      return invalidArgument("--max-new-tokens-limit: must be at most 2147483647");
    }
    config->scheduler.maxNewTokensLimit = static_cast<int32_t>(*flags.maxNewTokensLimit);
  }
  if (flags.logLevel) {
    auto level = parseLogLevel(*flags.logLevel);
    if (!level) {
      return invalidArgument("--log-level: must be one of debug, info, warning, error, got \"" +
                             *flags.logLevel + "\"");
    }
    config->logLevel = *level;
  }
  if (flags.drainTimeoutSeconds) {
    if (!(*flags.drainTimeoutSeconds >= 0)) {
      return invalidArgument("--drain-timeout: must be a non-negative number of seconds");
    }
    config->drainTimeoutSeconds = *flags.drainTimeoutSeconds;
  }
  return Status::ok();
}

}  // namespace

void addServerFlags(CLI::App& app, ServerFlags* flags) {
  app.add_option("-c,--config", flags->configPath, "YAML config file")->check(CLI::ExistingFile);
  optionalOption(app, "--listen", &flags->listen, "gRPC address HOST:PORT (default 127.0.0.1:50051)");
  optionalOption(app, "--metrics-listen", &flags->metricsListen,
                 "Prometheus /metrics address HOST:PORT (default 127.0.0.1:9400)");
  app.add_flag("--no-metrics", flags->noMetrics, "do not serve /metrics");
  optionalOption(app, "--admin-listen", &flags->adminListen,
                 "Admin service address HOST:PORT: hot swap, unload, prune (default 127.0.0.1:50052)");
  optionalOption(app, "--tls-cert", &flags->tlsCert, "PEM certificate chain: serve gRPC (both services) over TLS");
  optionalOption(app, "--tls-key", &flags->tlsKey, "PEM private key of --tls-cert");
  optionalOption(app, "--admin-token-file", &flags->adminTokenFile,
                 "require 'authorization: Bearer <token>' on Admin calls, the token read from this file");
  app.add_flag("--no-admin", flags->noAdmin, "do not serve the Admin service");
  app.add_flag("--check-config", flags->checkConfig,
               "validate the configuration (keys, values, model directories), print it and exit");
  optionalOption(app, "--model", &flags->model,
                 "serve the model in this directory (replaces the config's models)");
  optionalOption(app, "--name", &flags->name, "public name of the model (default: directory name)");
  app.add_option("--variants", flags->variants, "variants to host: dense,masked,compacted")
      ->delimiter(',');
  optionalOption(app, "--dtype", &flags->dtype, "fp32 | bf16 | fp16");
  optionalOption(app, "--device", &flags->device, "cpu | cuda | cuda:N");
  optionalOption(app, "--slots", &flags->slots, "state slots (concurrent sequences) per model");
  optionalOption(app, "--tokenizer", &flags->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  optionalOption(app, "--default-model", &flags->defaultModel, "model for requests that name none");
  optionalOption(app, "--max-batch", &flags->maxBatch, "sequences per decode step");
  optionalOption(app, "--max-queued", &flags->maxQueued, "waiting requests per model before RESOURCE_EXHAUSTED");
  optionalOption(app, "--prefill-chunk-tokens", &flags->prefillChunkTokens, "chunked prefill size");
  optionalOption(app, "--max-new-tokens-limit", &flags->maxNewTokensLimit, "upper bound on max_new_tokens");
  optionalOption(app, "--pipeline-decode", &flags->pipelineDecode,
                 "true | false: start the next greedy decode step before handling the current one's tokens");
  optionalOption(app, "--idle-spin-us", &flags->idleSpinUs,
                 "microseconds the idle scheduler polls for a request before sleeping (0 = sleep at once)");
  optionalOption(app, "--score-workers", &flags->scoreWorkers, "threads for Score calls");
  optionalOption(app, "--cpu-threads", &flags->cpuThreads,
                 "LibTorch intra-op threads for CPU models (0 = LibTorch's default, one per core)");
  optionalOption(app, "--log-level", &flags->logLevel, "debug | info | warning | error");
  optionalOption(app, "--drain-timeout", &flags->drainTimeoutSeconds,
                 "seconds in-flight requests may run after SIGTERM");
}

StatusOr<ServerConfig> resolveServerConfig(
    const ServerFlags& flags, const std::vector<std::filesystem::path>& defaultModelCandidates) {
  ServerConfig config;
  if (!flags.configPath.empty()) {
    MAMBA_ASSIGN_OR_RETURN(config, loadServerConfig(flags.configPath));
  }
  MAMBA_RETURN_IF_ERROR(applyServerFlags(flags, &config));
  if (config.models.empty() && !flags.model) {
    auto found = findDefaultModel(defaultModelCandidates);
    if (!found) {
      std::string looked;
      for (const auto& c : defaultModelCandidates) looked += "\n  " + c.string();
      return notFound(std::string("no model configured and the built-in default model (") +
                      kDefaultModelRelativePath + ") was not found; pass --model DIR or a --config " +
                      "with models. Looked in:" + looked);
    }
    ModelConfig model;
    model.path = found->string();
    model.name = modelNameFromPath(model.path);
    config.models.push_back(model);
  }
  MAMBA_RETURN_IF_ERROR(applyModelFlags(flags, &config));
  MAMBA_RETURN_IF_ERROR(validateServerConfig(config));
  return config;
}

StatusOr<ServerConfig> serverConfigFromArgs(
    const std::vector<std::string>& args,
    const std::vector<std::filesystem::path>& defaultModelCandidates) {
  CLI::App app{"mamba-server"};
  ServerFlags flags;
  addServerFlags(app, &flags);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    app.exit(e, out, out);
    return invalidArgument(out.str().empty() ? std::string(e.what()) : out.str());
  }
  return resolveServerConfig(flags, defaultModelCandidates);
}

}  // namespace mamba::config
