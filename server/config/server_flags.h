// mamba-server's command line (CLI11). Flags override the YAML config; with neither, the
// server hosts the built-in default model on 127.0.0.1:50051 (metrics on 127.0.0.1:9400).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/config/server_config.h"

namespace mamba::config {

struct ServerFlags {
  std::string configPath;
  std::optional<std::string> listen, metricsListen, adminListen, adminTokenFile, tlsCert, tlsKey, model, name,
      dtype, device, tokenizer, logLevel, defaultModel;
  std::vector<std::string> variants;
  std::optional<int64_t> slots, maxBatch, maxQueued, prefillChunkTokens, scoreWorkers,
      maxNewTokensLimit;
  std::optional<double> drainTimeoutSeconds;
  std::optional<bool> pipelineDecode;
  std::optional<int64_t> idleSpinUs;
  std::optional<int64_t> cpuThreads;
  bool noMetrics = false;
  bool noAdmin = false;
  bool checkConfig = false;  // validate the configuration, print a summary and exit
};

// Registers the flags on `app`; parsed values land in *flags (which must outlive parsing).
void addServerFlags(CLI::App& app, ServerFlags* flags);

// Loads flags.configPath (if set), applies the flags, and when no model is configured uses
// the first default-model candidate that exists. Errors name the config key or the flag.
// --model PATH replaces the configured models with that one; --name, --variants, --dtype,
// --device, --slots and --tokenizer then apply to every configured model.
StatusOr<ServerConfig> resolveServerConfig(
    const ServerFlags& flags, const std::vector<std::filesystem::path>& defaultModelCandidates);

// Convenience for tests and main(): parses argv with a fresh CLI::App. A CLI11 usage error or
// --help yields INVALID_ARGUMENT with CLI11's text.
StatusOr<ServerConfig> serverConfigFromArgs(
    const std::vector<std::string>& args,
    const std::vector<std::filesystem::path>& defaultModelCandidates);

}  // namespace mamba::config
