#include "server/config/server_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <limits>
#include <set>

#include "server/common/file_util.h"
#include "server/config/yaml_reader.h"

namespace mamba::config {
namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

Status withKey(const std::string& key, const std::optional<std::string>& error) {
  if (!error) return Status::ok();
  return invalidArgument(key + ": " + *error);
}

std::string resolvePath(const std::filesystem::path& baseDir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || baseDir.empty()) return p.lexically_normal().string();
  return (baseDir / p).lexically_normal().string();
}

Status readGrpc(const YamlMap& root, const std::filesystem::path& baseDir, ServerConfig* config) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap grpc, YamlMap::from(root.get("grpc"), "grpc"));
  MAMBA_RETURN_IF_ERROR(grpc.checkKeys({"listen", "score_workers", "tls"}));
  MAMBA_RETURN_IF_ERROR(grpc.readString("listen", &config->grpcListen));
  MAMBA_RETURN_IF_ERROR(withKey("grpc.listen", checkListenAddress(config->grpcListen)));
  MAMBA_RETURN_IF_ERROR(grpc.readPositiveInt("score_workers", &config->scoreWorkers));
  MAMBA_ASSIGN_OR_RETURN(YamlMap tls, YamlMap::from(grpc.get("tls"), "grpc.tls"));
  MAMBA_RETURN_IF_ERROR(tls.checkKeys({"cert_file", "key_file"}));
  MAMBA_RETURN_IF_ERROR(tls.readString("cert_file", &config->tlsCertFile));
  MAMBA_RETURN_IF_ERROR(tls.readString("key_file", &config->tlsKeyFile));
  if (!config->tlsCertFile.empty()) config->tlsCertFile = resolvePath(baseDir, config->tlsCertFile);
  if (!config->tlsKeyFile.empty()) config->tlsKeyFile = resolvePath(baseDir, config->tlsKeyFile);
  return Status::ok();
}

Status readMetrics(const YamlMap& root, ServerConfig* config) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap metrics, YamlMap::from(root.get("metrics"), "metrics"));
  MAMBA_RETURN_IF_ERROR(metrics.checkKeys({"listen", "enabled"}));
  MAMBA_RETURN_IF_ERROR(metrics.readBool("enabled", &config->metricsEnabled));
  MAMBA_RETURN_IF_ERROR(metrics.readString("listen", &config->metricsListen));
  return withKey("metrics.listen", checkListenAddress(config->metricsListen));
}

Status readAdmin(const YamlMap& root, const std::filesystem::path& baseDir, ServerConfig* config) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap admin, YamlMap::from(root.get("admin"), "admin"));
  MAMBA_RETURN_IF_ERROR(admin.checkKeys({"listen", "enabled", "token_file"}));
  MAMBA_RETURN_IF_ERROR(admin.readBool("enabled", &config->adminEnabled));
  MAMBA_RETURN_IF_ERROR(admin.readString("listen", &config->adminListen));
  MAMBA_RETURN_IF_ERROR(admin.readString("token_file", &config->adminTokenFile));
  if (!config->adminTokenFile.empty()) config->adminTokenFile = resolvePath(baseDir, config->adminTokenFile);
  return withKey("admin.listen", checkListenAddress(config->adminListen));
}

Status readModel(const YAML::Node& node, const std::string& path,
                 const std::filesystem::path& baseDir, ModelConfig* model) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap map, YamlMap::from(node, path));
  MAMBA_RETURN_IF_ERROR(map.checkKeys({"name", "path", "dtype", "state_dtype", "device", "variants", "slots",
                                       "tokenizer", "max_prefill_chunk"}));
  if (!map.has("path")) return invalidArgument(map.keyPath("path") + ": required");
  MAMBA_RETURN_IF_ERROR(map.readString("name", &model->name));
  MAMBA_RETURN_IF_ERROR(map.readString("path", &model->path));
  model->path = resolvePath(baseDir, model->path);
  MAMBA_RETURN_IF_ERROR(map.readString("dtype", &model->dtype));
  MAMBA_RETURN_IF_ERROR(withKey(map.keyPath("dtype"), checkDtype(&model->dtype)));
  MAMBA_RETURN_IF_ERROR(map.readString("state_dtype", &model->stateDtype));
  MAMBA_RETURN_IF_ERROR(withKey(map.keyPath("state_dtype"), checkStateDtype(&model->stateDtype)));
  MAMBA_RETURN_IF_ERROR(map.readString("device", &model->device));
  MAMBA_RETURN_IF_ERROR(withKey(map.keyPath("device"), checkDevice(model->device)));
  MAMBA_RETURN_IF_ERROR(map.readStringList("variants", &model->variants));
  MAMBA_RETURN_IF_ERROR(withKey(map.keyPath("variants"), checkVariants(model->variants)));
  MAMBA_RETURN_IF_ERROR(map.readPositiveInt("slots", &model->slots));
  MAMBA_RETURN_IF_ERROR(map.readString("tokenizer", &model->tokenizer));
  if (!model->tokenizer.empty()) model->tokenizer = resolvePath(baseDir, model->tokenizer);
  if (model->name.empty()) model->name = modelNameFromPath(model->path);
  return map.readPositiveInt("max_prefill_chunk", &model->maxPrefillChunk);
}

Status readModels(const YamlMap& root, const std::filesystem::path& baseDir,
                  ServerConfig* config) {
  YAML::Node models = root.get("models");
  if (!models.IsDefined() || models.IsNull()) return Status::ok();
  if (!models.IsSequence()) {
    return invalidArgument("models: must be a list of models, got " + describeNode(models));
  }
  config->models.clear();
  for (size_t i = 0; i < models.size(); ++i) {
    ModelConfig model;
    MAMBA_RETURN_IF_ERROR(
        readModel(models[i], "models[" + std::to_string(i) + "]", baseDir, &model));
    config->models.push_back(std::move(model));
  }
  return Status::ok();
}

Status readScheduler(const YamlMap& root, SchedulerOptions* s) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap map, YamlMap::from(root.get("scheduler"), "scheduler"));
  MAMBA_RETURN_IF_ERROR(map.checkKeys({"max_queued", "max_batch", "prefill_chunk_tokens",
                                       "max_prefill_tokens_per_step", "max_new_tokens_limit",
                                       "max_prompt_tokens", "pipeline_decode", "idle_spin_us"}));
  MAMBA_RETURN_IF_ERROR(map.readBool("pipeline_decode", &s->pipelineDecode));
  MAMBA_RETURN_IF_ERROR(map.readNonNegativeInt("idle_spin_us", &s->idleSpinMicros));
  if (s->idleSpinMicros > SchedulerOptions::kMaxIdleSpinMicros) {
    return invalidArgument("scheduler.idle_spin_us: must be at most " +
                           std::to_string(SchedulerOptions::kMaxIdleSpinMicros) + ", got " +
                           std::to_string(s->idleSpinMicros));
  }
  MAMBA_RETURN_IF_ERROR(map.readPositiveInt("max_queued", &s->maxQueued));
  MAMBA_RETURN_IF_ERROR(map.readPositiveInt("max_batch", &s->maxBatch));
  MAMBA_RETURN_IF_ERROR(map.readPositiveInt("prefill_chunk_tokens", &s->prefillChunkTokens));
  MAMBA_RETURN_IF_ERROR(
      map.readPositiveInt("max_prefill_tokens_per_step", &s->maxPrefillTokensPerStep));
  int64_t limit = s->maxNewTokensLimit;
  MAMBA_RETURN_IF_ERROR(map.readPositiveInt("max_new_tokens_limit", &limit));
  if (limit > std::numeric_limits<int32_t>::max()) {
    return invalidArgument("scheduler.max_new_tokens_limit: must be at most 2147483647, got " +
                           std::to_string(limit));
  }
  s->maxNewTokensLimit = static_cast<int32_t>(limit);
  return map.readPositiveInt("max_prompt_tokens", &s->maxPromptTokens);
}

Status readRoot(const YAML::Node& doc, const std::filesystem::path& baseDir,
                ServerConfig* config) {
  MAMBA_ASSIGN_OR_RETURN(YamlMap root, YamlMap::from(doc, ""));
  MAMBA_RETURN_IF_ERROR(root.checkKeys(
      {"grpc", "metrics", "models", "default_model", "scheduler", "engine", "logging", "shutdown", "admin"}));
  MAMBA_RETURN_IF_ERROR(readGrpc(root, baseDir, config));
  MAMBA_RETURN_IF_ERROR(readMetrics(root, config));
  MAMBA_RETURN_IF_ERROR(readAdmin(root, baseDir, config));
  MAMBA_RETURN_IF_ERROR(readModels(root, baseDir, config));
  MAMBA_RETURN_IF_ERROR(root.readString("default_model", &config->defaultModel));
  MAMBA_RETURN_IF_ERROR(readScheduler(root, &config->scheduler));
  MAMBA_ASSIGN_OR_RETURN(YamlMap engine, YamlMap::from(root.get("engine"), "engine"));
  MAMBA_RETURN_IF_ERROR(engine.checkKeys({"cpu_threads"}));
  MAMBA_RETURN_IF_ERROR(engine.readNonNegativeInt("cpu_threads", &config->cpuThreads));

  MAMBA_ASSIGN_OR_RETURN(YamlMap logging, YamlMap::from(root.get("logging"), "logging"));
  MAMBA_RETURN_IF_ERROR(logging.checkKeys({"level"}));
  std::string level = logLevelName(config->logLevel);
  MAMBA_RETURN_IF_ERROR(logging.readString("level", &level));
  auto parsed = parseLogLevel(level);
  if (!parsed) {
    return invalidArgument("logging.level: must be one of debug, info, warning, error, got " +
                           quote(level));
  }
  config->logLevel = *parsed;

  MAMBA_ASSIGN_OR_RETURN(YamlMap shutdown, YamlMap::from(root.get("shutdown"), "shutdown"));
  MAMBA_RETURN_IF_ERROR(shutdown.checkKeys({"drain_timeout_seconds"}));
  return shutdown.readNonNegativeDouble("drain_timeout_seconds", &config->drainTimeoutSeconds);
}

}  // namespace

std::string modelNameFromPath(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

StatusOr<HostPort> parseHostPort(const std::string& address) {
  const std::string expected = "expected HOST:PORT with PORT in [0, 65535], got " + quote(address);
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return invalidArgument(expected);
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return invalidArgument(expected);
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return invalidArgument(expected + " (put IPv6 addresses in brackets: [::1]:50051)");
  }
  const std::string portText = address.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || end != portText.data() + portText.size() || port < 0 || port > 65535) {
    return invalidArgument(expected);
  }
  return HostPort{host, port};
}

std::optional<std::string> checkListenAddress(const std::string& address) {
  auto parsed = parseHostPort(address);
  if (!parsed.isOk()) return parsed.status().message();
  return std::nullopt;
}

std::optional<std::string> checkDtype(std::string* dtype) {
  if (*dtype == "float32") *dtype = "fp32";
  if (*dtype == "bfloat16") *dtype = "bf16";
  if (*dtype == "float16") *dtype = "fp16";
  if (*dtype == "fp32" || *dtype == "bf16" || *dtype == "fp16") return std::nullopt;
  return "must be one of fp32, bf16, fp16, got " + quote(*dtype);
}

std::optional<std::string> checkStateDtype(std::string* dtype) {
  if (*dtype == "float32") *dtype = "fp32";
  if (*dtype == "bfloat16") *dtype = "bf16";
  if (*dtype == "fp32" || *dtype == "bf16") return std::nullopt;
  return "must be one of fp32, bf16, got " + quote(*dtype);
}

std::optional<std::string> checkDevice(const std::string& device) {
  if (device == "cpu" || device == "cuda") return std::nullopt;
  if (device.rfind("cuda:", 0) == 0 && device.size() > 5) {
    int index = -1;
    const char* begin = device.data() + 5;
    const char* stop = device.data() + device.size();
    auto [end, ec] = std::from_chars(begin, stop, index);
    if (ec == std::errc() && end == stop && index >= 0) return std::nullopt;
  }
  return "must be cpu, cuda or cuda:N, got " + quote(device);
}

std::optional<std::string> checkVariants(const std::vector<std::string>& variants) {
  if (variants.empty()) return "must name at least one variant";
  std::set<std::string> seen;
  for (const auto& v : variants) {
    if (!isVariantName(v)) {
      return "each must be one of dense, masked, compacted, got " + quote(v);
    }
    if (!seen.insert(v).second) return "duplicate variant " + quote(v);
  }
  return std::nullopt;
}

StatusOr<ServerConfig> parseServerConfig(const std::string& yamlText,
                                         const std::filesystem::path& baseDir,
                                         const std::string& origin) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yamlText);
  } catch (const YAML::Exception& e) {
    return invalidArgument(origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
  ServerConfig config;
  Status status;
  try {
    status = readRoot(doc, baseDir, &config);
  } catch (const YAML::Exception& e) {  // defensive: yaml-cpp throws on odd node shapes
    status = invalidArgument(std::string("malformed config: ") + e.what());
  }
  if (!status.isOk()) return status.withContext(origin);
  return config;
}

StatusOr<ServerConfig> loadServerConfig(const std::filesystem::path& path) {
  MAMBA_ASSIGN_OR_RETURN(std::string text, readWholeFile(path, "config file"));
  return parseServerConfig(text, path.parent_path(), path.string());
}

StatusOr<std::string> loadAdminToken(const ServerConfig& config) {
  if (config.adminTokenFile.empty()) return std::string();
  auto text = readWholeFile(config.adminTokenFile, "admin.token_file");
  if (!text.isOk()) return text.status();
  const std::string& t = *text;
  const char* space = " \t\r\n";
  const size_t begin = t.find_first_not_of(space);
  if (begin == std::string::npos) {
    return invalidArgument("admin.token_file '" + config.adminTokenFile + "': is empty");
  }
  const std::string token = t.substr(begin, t.find_last_not_of(space) - begin + 1);
  for (char c : token) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return invalidArgument("admin.token_file '" + config.adminTokenFile +
                             "': the token must be printable ASCII without spaces (it travels as gRPC metadata)");
    }
  }
  return token;
}

StatusOr<TlsFiles> loadTls(const ServerConfig& config) {
  TlsFiles tls;
  if (config.tlsCertFile.empty() && config.tlsKeyFile.empty()) return tls;
  if (config.tlsCertFile.empty() || config.tlsKeyFile.empty()) {
    return invalidArgument("grpc.tls: give both cert_file and key_file (--tls-cert, --tls-key), or neither");
  }
  MAMBA_ASSIGN_OR_RETURN(tls.certChainPem, readWholeFile(config.tlsCertFile, "grpc.tls.cert_file"));
  MAMBA_ASSIGN_OR_RETURN(tls.privateKeyPem, readWholeFile(config.tlsKeyFile, "grpc.tls.key_file"));
  if (tls.certChainPem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return invalidArgument("grpc.tls.cert_file '" + config.tlsCertFile + "': no PEM certificate in it");
  }
  if (tls.privateKeyPem.find("PRIVATE KEY-----") == std::string::npos) {
    return invalidArgument("grpc.tls.key_file '" + config.tlsKeyFile + "': no PEM private key in it");
  }
  return tls;
}

Status validateServerConfig(const ServerConfig& config) {
  MAMBA_RETURN_IF_ERROR(withKey("grpc.listen", checkListenAddress(config.grpcListen)));
  MAMBA_RETURN_IF_ERROR(loadTls(config).status());
  if (config.metricsEnabled) {
    MAMBA_RETURN_IF_ERROR(withKey("metrics.listen", checkListenAddress(config.metricsListen)));
  }
  if (config.adminEnabled) {
    MAMBA_RETURN_IF_ERROR(withKey("admin.listen", checkListenAddress(config.adminListen)));
    MAMBA_RETURN_IF_ERROR(loadAdminToken(config).status());
  }
  if (config.models.empty()) return invalidArgument("models: at least one model is required");
  std::set<std::string> names;
  for (size_t i = 0; i < config.models.size(); ++i) {
    const ModelConfig& m = config.models[i];
    const std::string key = "models[" + std::to_string(i) + "]";
    if (m.path.empty()) return invalidArgument(key + ".path: required");
    std::error_code ec;
    if (!std::filesystem::is_directory(m.path, ec)) {
      return notFound(key + ".path: no such model directory " + quote(m.path));
    }
    if (m.name.empty()) return invalidArgument(key + ".name: must not be empty");
    if (!names.insert(m.name).second) {
      return invalidArgument(key + ".name: duplicate model name " + quote(m.name));
    }
    std::string dtype = m.dtype;
    MAMBA_RETURN_IF_ERROR(withKey(key + ".dtype", checkDtype(&dtype)));
    MAMBA_RETURN_IF_ERROR(withKey(key + ".device", checkDevice(m.device)));
    MAMBA_RETURN_IF_ERROR(withKey(key + ".variants", checkVariants(m.variants)));
    if (m.slots < 1) return invalidArgument(key + ".slots: must be a positive integer");
  }
  if (!config.defaultModel.empty() && !names.count(config.defaultModel)) {
    return invalidArgument("default_model: " + quote(config.defaultModel) +
                           " is not one of the configured models");
  }
  return Status::ok();
}

EngineOptions toEngineOptions(const ServerConfig& config) {
  EngineOptions options;
  options.scheduler = config.scheduler;
  options.defaultModel = config.defaultModel;
  options.cpuThreads = config.cpuThreads;
  for (const ModelConfig& m : config.models) {
    for (const std::string& variant : m.variants) {
      ModelSpec spec;
      spec.name = m.name;
      spec.variant = variant;
      spec.tokenizerPath = m.tokenizer;
      spec.backend.modelDir = m.path;
      spec.backend.name = m.name;
      spec.backend.variant = variant;
      spec.backend.dtype = m.dtype;
      spec.backend.stateDtype = m.stateDtype;
      spec.backend.device = m.device;
      spec.backend.numSlots = m.slots;
      spec.backend.maxPrefillChunk = m.maxPrefillChunk;
      options.models.push_back(std::move(spec));
    }
  }
  return options;
}

}  // namespace mamba::config
