// mamba-cli admin load | unload | prune (the Admin service of admin.proto, on its own
// address: --admin-target, default 127.0.0.1:50052).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "client/channel.h"

namespace mamba::client {

struct AdminOptions {
  std::string target = "127.0.0.1:50052";
  std::string tokenFile;  // sent as "authorization: Bearer <token>" when set
  CLI::App *command = nullptr, *load = nullptr, *unload = nullptr, *prune = nullptr;
  std::string model, variant, path, tokenizer, sourceVariant;
  std::optional<std::string> dtype, stateDtype, device;
  std::optional<int32_t> slots;
  double ratio = 0;
  std::string method, mode, scoresPath, calibrationText, outputDir;
  int64_t calibrationTokens = 0, calibrationContext = 0, calibrationBatch = 0;
  uint64_t seed = 0;
  bool noLoad = false;
};

// Registers `admin` and its three subcommands on `app`; values land in *o (which must outlive
// parsing).
void addAdminCommands(CLI::App& app, AdminOptions* o);
// Runs the parsed admin subcommand; prints the response as JSON. Throws CliError.
int runAdmin(const AdminOptions& o, double timeoutSeconds, const ConnectOptions& connect);

}  // namespace mamba::client
