// The YAML config: every key, defaults, and errors that name the key.
#include "server/config/server_config.h"

#include <gtest/gtest.h>

#include "tests/common/test_support.h"

namespace mamba::config {
namespace {

StatusOr<ServerConfig> parse(const std::string& yaml, const std::filesystem::path& base = "/base") {
  return parseServerConfig(yaml, base, "test.yaml");
}

TEST(ServerConfig, DefaultsWithAnEmptyFile) {
  auto c = parse("");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->grpcListen, "127.0.0.1:50051");
  EXPECT_EQ(c->metricsListen, "127.0.0.1:9400");
  EXPECT_TRUE(c->metricsEnabled);
  EXPECT_TRUE(c->adminEnabled);
  EXPECT_EQ(c->adminListen, "127.0.0.1:50052");
  EXPECT_TRUE(c->models.empty());
  EXPECT_EQ(c->logLevel, LogLevel::kInfo);
  EXPECT_EQ(c->drainTimeoutSeconds, 30);
  EXPECT_EQ(c->scheduler.maxBatch, SchedulerOptions().maxBatch);
  EXPECT_TRUE(c->scheduler.pipelineDecode);
  EXPECT_EQ(c->scheduler.idleSpinMicros, 0);
  EXPECT_EQ(c->cpuThreads, 0);
}

TEST(ServerConfig, ReadsEveryKey) {
  auto c = parse(R"(
grpc: {listen: "0.0.0.0:6000", score_workers: 3}
metrics: {listen: "[::1]:9500", enabled: false}
admin: {listen: "10.0.0.2:7052", enabled: false}
models:
  - name: ref
    path: models/ref
    dtype: bfloat16
    state_dtype: bfloat16
    device: cuda:1
    variants: [dense, compacted]
    slots: 12
    tokenizer: tok/tokenizer.json
    max_prefill_chunk: 256
  - path: /abs/other/
default_model: ref
scheduler:
  max_queued: 10
  max_batch: 6
  prefill_chunk_tokens: 128
  max_prefill_tokens_per_step: 1024
  max_new_tokens_limit: 999
  max_prompt_tokens: 5000
  pipeline_decode: false
  idle_spin_us: 150
engine: {cpu_threads: 3}
logging: {level: debug}
shutdown: {drain_timeout_seconds: 2.5}
)");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->grpcListen, "0.0.0.0:6000");
  EXPECT_EQ(c->scoreWorkers, 3);
  EXPECT_EQ(c->metricsListen, "[::1]:9500");
  EXPECT_FALSE(c->metricsEnabled);
  EXPECT_EQ(c->adminListen, "10.0.0.2:7052");
  EXPECT_FALSE(c->adminEnabled);
  ASSERT_EQ(c->models.size(), 2u);
  const ModelConfig& m = c->models[0];
  EXPECT_EQ(m.name, "ref");
  EXPECT_EQ(m.path, "/base/models/ref");  // relative to the config file's directory
  EXPECT_EQ(m.dtype, "bf16");             // alias normalized
  EXPECT_EQ(m.device, "cuda:1");
  EXPECT_EQ(m.variants, (std::vector<std::string>{"dense", "compacted"}));
  EXPECT_EQ(m.slots, 12);
  EXPECT_EQ(m.tokenizer, "/base/tok/tokenizer.json");
  EXPECT_EQ(m.maxPrefillChunk, 256);
  EXPECT_EQ(c->models[1].name, "other");  // from the directory name
  EXPECT_EQ(c->models[1].path, "/abs/other/");
  EXPECT_EQ(c->defaultModel, "ref");
  EXPECT_EQ(c->scheduler.maxQueued, 10);
  EXPECT_EQ(c->scheduler.maxBatch, 6);
  EXPECT_EQ(c->scheduler.prefillChunkTokens, 128);
  EXPECT_EQ(c->scheduler.maxPrefillTokensPerStep, 1024);
  EXPECT_EQ(c->scheduler.maxNewTokensLimit, 999);
  EXPECT_EQ(c->scheduler.maxPromptTokens, 5000);
  EXPECT_FALSE(c->scheduler.pipelineDecode);
  EXPECT_EQ(c->scheduler.idleSpinMicros, 150);
  EXPECT_EQ(c->cpuThreads, 3);
  EXPECT_EQ(c->logLevel, LogLevel::kDebug);
  EXPECT_EQ(c->drainTimeoutSeconds, 2.5);

  const EngineOptions eo = toEngineOptions(*c);
  ASSERT_EQ(eo.models.size(), 3u);  // ref x {dense, compacted} + other
  EXPECT_EQ(eo.models[1].name, "ref");
  EXPECT_EQ(eo.models[1].variant, "compacted");
  EXPECT_EQ(eo.models[1].backend.variant, "compacted");
  EXPECT_EQ(eo.models[1].backend.dtype, "bf16");
  EXPECT_EQ(eo.models[1].backend.stateDtype, "bf16");
  EXPECT_EQ(eo.models[2].backend.stateDtype, "fp32");  // default
  EXPECT_EQ(eo.models[1].backend.device, "cuda:1");
  EXPECT_EQ(eo.models[1].backend.numSlots, 12);
  EXPECT_EQ(eo.models[1].tokenizerPath, "/base/tok/tokenizer.json");
  EXPECT_EQ(eo.defaultModel, "ref");
  EXPECT_EQ(eo.scheduler.maxBatch, 6);
  EXPECT_FALSE(eo.scheduler.pipelineDecode);
  EXPECT_EQ(eo.cpuThreads, 3);
}

struct BadCase {
  const char* yaml;
  const char* message;  // expected substring
};

TEST(ServerConfig, ErrorsNameTheKey) {
  const BadCase cases[] = {
      {"grcp: {}\n", "grcp: unknown key (expected one of: grpc, metrics, models"},
      {"scheduler:\n  max_bacth: 4\n", "scheduler.max_bacth: unknown key"},
      {"models:\n  - path: x\n    slot: 2\n", "models[0].slot: unknown key"},
      {"scheduler:\n  max_batch: x\n", "scheduler.max_batch: must be a positive integer, got \"x\""},
      {"scheduler:\n  max_batch: 0\n", "scheduler.max_batch: must be a positive integer, got \"0\""},
      {"scheduler:\n  max_batch: -2\n", "scheduler.max_batch: must be a positive integer"},
      {"scheduler:\n  max_batch: 1.5\n", "scheduler.max_batch: must be a positive integer, got \"1.5\""},
      {"scheduler:\n  max_queued: [1]\n", "scheduler.max_queued: must be a positive integer, got [1]"},
      {"scheduler:\n  max_new_tokens_limit: 99999999999\n", "scheduler.max_new_tokens_limit: must be at most"},
      {"scheduler: 5\n", "scheduler: must be a mapping"},
      {"scheduler:\n  pipeline_decode: sometimes\n", "scheduler.pipeline_decode: must be true or false, got \"sometimes\""},
      {"engine:\n  cpu_threads: -1\n", "engine.cpu_threads: must be a non-negative integer, got \"-1\""},
      {"scheduler:\n  idle_spin_us: -5\n", "scheduler.idle_spin_us: must be a non-negative integer, got \"-5\""},
      {"scheduler:\n  idle_spin_us: 2000000\n", "scheduler.idle_spin_us: must be at most 1000000, got 2000000"},
      {"engine:\n  threads: 2\n", "engine.threads: unknown key (expected one of: cpu_threads)"},
      {"grpc:\n  listen: localhost\n", "grpc.listen: expected HOST:PORT"},
      {"grpc:\n  listen: 127.0.0.1:70000\n", "grpc.listen: expected HOST:PORT with PORT in [0, 65535]"},
      {"grpc:\n  score_workers: 0\n", "grpc.score_workers: must be a positive integer"},
      {"grpc:\n  tls: {cert: x}\n", "grpc.tls.cert: unknown key (expected one of: cert_file, key_file)"},
      {"metrics:\n  listen: ::1:9400\n", "metrics.listen: expected HOST:PORT"},
      {"metrics:\n  enabled: maybe\n", "metrics.enabled: must be true or false, got \"maybe\""},
      {"admin:\n  listen: nowhere\n", "admin.listen: expected HOST:PORT"},
      {"admin:\n  enabled: sometimes\n", "admin.enabled: must be true or false, got \"sometimes\""},
      {"admin:\n  port: 1\n", "admin.port: unknown key (expected one of: listen, enabled, token_file)"},
      {"models: ref\n", "models: must be a list of models"},
      {"models:\n  - name: x\n", "models[0].path: required"},
      {"models:\n  - path: x\n    dtype: int8\n", "models[0].dtype: must be one of fp32, bf16, fp16, got \"int8\""},
      {"models:\n  - path: x\n    state_dtype: fp16\n", "models[0].state_dtype: must be one of fp32, bf16, got \"fp16\""},
      {"models:\n  - path: x\n    device: tpu\n", "models[0].device: must be cpu, cuda or cuda:N, got \"tpu\""},
      {"models:\n  - path: x\n    variants: [dense, dense]\n", "models[0].variants: duplicate variant \"dense\""},
      {"models:\n  - path: x\n    variants: [sparse]\n", "models[0].variants: each must be one of dense, masked, compacted"},
      {"models:\n  - path: x\n    variants: []\n", "models[0].variants: must be a non-empty list of strings"},
      {"models:\n  - path: x\n  - path: y\n    slots: none\n", "models[1].slots: must be a positive integer, got \"none\""},
      {"logging:\n  level: loud\n", "logging.level: must be one of debug, info, warning, error, got \"loud\""},
      {"shutdown:\n  drain_timeout_seconds: -1\n", "shutdown.drain_timeout_seconds: must be a non-negative number"},
      {"shutdown:\n  drain_timeout_seconds: soon\n", "shutdown.drain_timeout_seconds: must be a non-negative number, got \"soon\""},
      {"default_model: \"\"\n", "default_model: must be a non-empty string"},
      {"scheduler: {max_batch: 4\n", "test.yaml:"},  // YAML syntax error with line:column
  };
  for (const auto& c : cases) {
    auto r = parse(c.yaml);
    ASSERT_FALSE(r.isOk()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << "yaml:\n" << c.yaml << "message: " << r.status().message();
    EXPECT_EQ(r.status().message().rfind("test.yaml", 0), 0u) << r.status().message();
  }
}

TEST(ServerConfig, ValidationOfACompleteConfig) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "a");
  ServerConfig c;
  EXPECT_NE(validateServerConfig(c).message().find("models: at least one model"), std::string::npos);
  ModelConfig a;
  a.name = "a";
  a.path = (dir.path() / "a").string();
  c.models.push_back(a);
  EXPECT_TRUE(validateServerConfig(c).isOk());
  c.models.push_back(a);
  EXPECT_NE(validateServerConfig(c).message().find("models[1].name: duplicate model name \"a\""),
            std::string::npos);
  c.models[1].name = "b";
  c.models[1].path = (dir.path() / "missing").string();
  Status s = validateServerConfig(c);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("models[1].path: no such model directory"), std::string::npos);
  c.models.pop_back();
  c.defaultModel = "zzz";
  EXPECT_NE(validateServerConfig(c).message().find("default_model: \"zzz\""), std::string::npos);
}

TEST(ServerConfig, AdminTokenFileIsResolvedTrimmedAndChecked) {
  testing::TempDir dir;
  auto c = parse("admin:\n  token_file: secrets/admin-token\n", dir.path());
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->adminTokenFile, (dir.path() / "secrets" / "admin-token").string());  // beside the config
  auto missing = loadAdminToken(*c);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().toString();
  EXPECT_NE(missing.status().message().find("admin.token_file '" + c->adminTokenFile + "'"), std::string::npos)
      << missing.status().toString();
  std::filesystem::create_directories(dir.path() / "secrets");
  testing::writeFile(c->adminTokenFile, "\n  t0ken-with.symbols~ \r\n");
  auto token = loadAdminToken(*c);
  ASSERT_TRUE(token.isOk()) << token.status().toString();
  EXPECT_EQ(*token, "t0ken-with.symbols~");
  testing::writeFile(c->adminTokenFile, " \n\t");
  EXPECT_NE(loadAdminToken(*c).status().message().find("is empty"), std::string::npos);
  testing::writeFile(c->adminTokenFile, "two words");
  EXPECT_NE(loadAdminToken(*c).status().message().find("printable ASCII without spaces"), std::string::npos);
  // validateServerConfig (and so --check-config) reads it when the admin service is on.
  std::filesystem::create_directories(dir.path() / "m");
  ModelConfig m;
  m.name = "m";
  m.path = (dir.path() / "m").string();
  c->models.push_back(m);
  Status s = validateServerConfig(*c);
  EXPECT_NE(s.message().find("admin.token_file"), std::string::npos) << s.toString();
  c->adminEnabled = false;
  EXPECT_TRUE(validateServerConfig(*c).isOk());
  ServerConfig none;
  auto empty = loadAdminToken(none);
  ASSERT_TRUE(empty.isOk());
  EXPECT_EQ(*empty, "");
}

TEST(ServerConfig, TlsFilesAreResolvedAndChecked) {
  testing::TempDir dir;
  auto c = parse("grpc:\n  tls: {cert_file: tls/server.pem, key_file: /abs/server.key}\n", dir.path());
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->tlsCertFile, (dir.path() / "tls" / "server.pem").string());
  EXPECT_EQ(c->tlsKeyFile, "/abs/server.key");
  auto missing = loadTls(*c);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().toString();
  EXPECT_NE(missing.status().message().find("grpc.tls.cert_file '" + c->tlsCertFile + "'"), std::string::npos)
      << missing.status().toString();
  std::filesystem::create_directories(dir.path() / "tls");
  testing::writeFile(c->tlsCertFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  c->tlsKeyFile = (dir.path() / "server.key").string();
  testing::writeFile(c->tlsKeyFile, "not a key");
  EXPECT_NE(loadTls(*c).status().message().find("grpc.tls.key_file '" + c->tlsKeyFile + "': no PEM private key"),
            std::string::npos);
  testing::writeFile(c->tlsKeyFile, "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n");
  auto tls = loadTls(*c);
  ASSERT_TRUE(tls.isOk()) << tls.status().toString();
  EXPECT_NE(tls->certChainPem.find("MIIB"), std::string::npos);
  EXPECT_NE(tls->privateKeyPem.find("MIGH"), std::string::npos);
  c->tlsKeyFile.clear();
  EXPECT_NE(loadTls(*c).status().message().find("give both cert_file and key_file"), std::string::npos);
  ServerConfig none;
  auto plain = loadTls(none);
  ASSERT_TRUE(plain.isOk());
  EXPECT_TRUE(plain->certChainPem.empty());
}

TEST(ServerConfig, HostPort) {
  auto a = parseHostPort("127.0.0.1:50051");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 50051);
  auto b = parseHostPort("[::1]:0");
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  for (const char* bad : {"", ":80", "host:", "host", "h:-1", "h:65536", "::1:80", "[::1:80", "h:8x"}) {
    EXPECT_FALSE(parseHostPort(bad).isOk()) << bad;
  }
}

TEST(ServerConfig, LoadFileErrorsNameTheFile) {
  auto missing = loadServerConfig("/nonexistent/dir/server.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/server.yaml"), std::string::npos);
  testing::TempDir dir;
  testing::writeFile(dir.path() / "c.yaml", "models:\n  - path: m\n");
  auto ok = loadServerConfig(dir.path() / "c.yaml");
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(ok->models[0].path, (dir.path() / "m").string());
}

}  // namespace
}  // namespace mamba::config

namespace mamba::config {
namespace {

TEST(ServerConfig, ExampleFileIsValid) {
  const std::filesystem::path example =
      std::filesystem::path(MAMBA_SOURCE_DIR) / "server/config/mamba-server.example.yaml";
  auto c = loadServerConfig(example);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ASSERT_EQ(c->models.size(), 1u);
  EXPECT_EQ(c->models[0].path,
            (std::filesystem::path(MAMBA_SOURCE_DIR) / "models/mamba2-ref").lexically_normal().string());
  const ServerConfig defaults;
  EXPECT_EQ(c->grpcListen, defaults.grpcListen);
  EXPECT_EQ(c->metricsListen, defaults.metricsListen);
  EXPECT_EQ(c->scheduler.maxBatch, defaults.scheduler.maxBatch);
  EXPECT_EQ(c->scheduler.maxQueued, defaults.scheduler.maxQueued);
  EXPECT_EQ(c->drainTimeoutSeconds, defaults.drainTimeoutSeconds);
}

}  // namespace
}  // namespace mamba::config
