// The server's configuration: a YAML file (yaml-cpp), strict, every error naming its key.
//
//   grpc:      {listen: 127.0.0.1:50051, score_workers: 2}
//   metrics:   {listen: 127.0.0.1:9400, enabled: true}
//   grpc.tls:  {cert_file: server.pem, key_file: server.key}  # optional: TLS on both gRPC ports
//   admin:     {listen: 127.0.0.1:50052, enabled: true,   # the Admin service (hot swap, prune)
//               token_file: admin-token}                 # optional: require a bearer token
//   models:                          # empty or absent => the built-in default model
//     - name: mamba2-ref             # default: the directory's base name
//       path: models/mamba2-ref      # relative paths are relative to the config file
//       dtype: fp32                  # fp32 | bf16 | fp16
//       state_dtype: fp32            # SSM state: fp32 | bf16 (half the state memory)
//       device: cpu                  # cpu | cuda | cuda:N
//       variants: [dense]            # dense | masked | compacted
//       slots: 8                     # concurrent sequences (state slots)
//       tokenizer: PATH              # default: <path>/tokenizer.json
//       max_prefill_chunk: 2048
//   default_model: mamba2-ref        # a request naming no model gets this one (default: first)
//   scheduler: {max_queued: 256, max_batch: 64, prefill_chunk_tokens: 512,
//               max_prefill_tokens_per_step: 2048, max_new_tokens_limit: 4096,
//               max_prompt_tokens: 1048576, pipeline_decode: true,
//               idle_spin_us: 0}     # poll this long for work before sleeping (0: sleep)
//   engine:    {cpu_threads: 0}      # LibTorch intra-op threads of CPU models (0 = its default)
//   logging:   {level: info}         # debug | info | warning | error
//   shutdown:  {drain_timeout_seconds: 30}
//
// Torch-free and gRPC-free: it produces EngineOptions (plain structs) for the engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "server/common/logging.h"
#include "server/common/status.h"
#include "server/engine/engine.h"

namespace mamba::config {

inline constexpr const char* kDefaultGrpcListen = "127.0.0.1:50051";
inline constexpr const char* kDefaultMetricsListen = "127.0.0.1:9400";
inline constexpr const char* kDefaultAdminListen = "127.0.0.1:50052";

struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;
};
// "host:port" or "[v6]:port", port in [0, 65535] (0 = any free port).
StatusOr<HostPort> parseHostPort(const std::string& address);

struct ModelConfig {
  std::string name;                            // empty => base name of path
  std::string path;
  std::string dtype = "fp32";
  std::string stateDtype = "fp32";
  std::string device = "cpu";
  std::vector<std::string> variants = {"dense"};
  int64_t slots = 8;
  std::string tokenizer;                       // empty => <path>/tokenizer.json
  int64_t maxPrefillChunk = 2048;
};

struct ServerConfig {
  std::string grpcListen = kDefaultGrpcListen;
  // grpc.tls: PEM certificate chain and private key; when set, the Inference and Admin
  // services accept TLS only (loadTls()).
  std::string tlsCertFile, tlsKeyFile;
  int64_t scoreWorkers = 2;                    // threads running blocking Score calls
  bool metricsEnabled = true;
  std::string metricsListen = kDefaultMetricsListen;
  bool adminEnabled = true;                    // the Admin service, on its own address
  std::string adminListen = kDefaultAdminListen;
  // admin.token_file: when set, every Admin call must carry "authorization: Bearer <token>",
  // the token being this file's content without surrounding whitespace (loadAdminToken()).
  std::string adminTokenFile;
  std::vector<ModelConfig> models;
  std::string defaultModel;
  SchedulerOptions scheduler;
  int64_t cpuThreads = 0;                      // engine.cpu_threads (EngineOptions::cpuThreads)
  LogLevel logLevel = LogLevel::kInfo;
  double drainTimeoutSeconds = 30;
};

// Value checks shared by the YAML reader and the flags: an error text ("must be one of fp32,
// bf16, fp16, got \"x\"") for a bad value, nullopt for a good one. normalizeDtype also maps
// the aliases float32/bfloat16/float16 to fp32/bf16/fp16.
std::optional<std::string> checkDtype(std::string* dtype);
std::optional<std::string> checkStateDtype(std::string* dtype);  // fp32 | bf16 (and aliases)
std::optional<std::string> checkDevice(const std::string& device);
std::optional<std::string> checkVariants(const std::vector<std::string>& variants);
std::optional<std::string> checkListenAddress(const std::string& address);

// The base name of a model directory ("models/mamba2-ref/" -> "mamba2-ref").
std::string modelNameFromPath(const std::string& path);

// Parses YAML text. `baseDir` resolves relative model and tokenizer paths; `origin` (the file
// name) prefixes every error.
StatusOr<ServerConfig> parseServerConfig(const std::string& yamlText,
                                         const std::filesystem::path& baseDir,
                                         const std::string& origin);
StatusOr<ServerConfig> loadServerConfig(const std::filesystem::path& path);

// Cross-field checks on a complete config (after flags): at least one model, unique names,
// default_model hosted, max_batch consistent, the admin token file readable. Errors name the
// key.
Status validateServerConfig(const ServerConfig& config);

struct TlsFiles {
  std::string certChainPem, privateKeyPem;  // both empty: plain text
};
// The contents of grpc.tls.cert_file and key_file (both or neither), checked to hold PEM
// blocks; errors name the key. Whether the key matches the certificate is gRPC's check when the
// server starts.
StatusOr<TlsFiles> loadTls(const ServerConfig& config);

// The Admin service's bearer token: admin.token_file's content without surrounding whitespace;
// empty when no file is set. NOT_FOUND or INVALID_ARGUMENT (empty file, a character that cannot
// travel in metadata) naming admin.token_file.
StatusOr<std::string> loadAdminToken(const ServerConfig& config);

// One ModelSpec per (model, variant).
EngineOptions toEngineOptions(const ServerConfig& config);

}  // namespace mamba::config
