// mamba-server's flags: they override the config; the default model is found when nothing
// names one; bad flag values name the flag.
#include "server/config/server_flags.h"

#include <gtest/gtest.h>

#include "server/config/default_model.h"
#include "tests/common/test_support.h"

namespace mamba::config {
namespace {

class ServerFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* m : {"ref", "other", "default/models/mamba2-ref"}) {
      std::filesystem::create_directories(dir_.path() / m);
      testing::writeFile(dir_.path() / m / "config.json", "{}");
    }
    candidates_ = {dir_.path() / "nowhere", dir_.path() / "default/models/mamba2-ref"};
  }
  StatusOr<ServerConfig> run(const std::vector<std::string>& args) {
    return serverConfigFromArgs(args, candidates_);
  }
  std::string path(const char* rel) const { return (dir_.path() / rel).string(); }

  testing::TempDir dir_;
  std::vector<std::filesystem::path> candidates_;
};

TEST_F(ServerFlagsTest, NoArgumentsServesTheDefaultModelOnDefaultAddresses) {
  auto c = run({});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->grpcListen, "127.0.0.1:50051");
  EXPECT_EQ(c->metricsListen, "127.0.0.1:9400");
  ASSERT_EQ(c->models.size(), 1u);
  EXPECT_EQ(c->models[0].name, "mamba2-ref");
  EXPECT_EQ(c->models[0].path, path("default/models/mamba2-ref"));
  EXPECT_EQ(c->models[0].variants, (std::vector<std::string>{"dense"}));
}

TEST_F(ServerFlagsTest, MissingDefaultModelListsWhereItLooked) {
  candidates_ = {dir_.path() / "nowhere"};
  auto c = run({});
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("--model"), std::string::npos);
  EXPECT_NE(c.status().message().find(path("nowhere")), std::string::npos);
}

TEST_F(ServerFlagsTest, FlagsOverrideTheConfig) {
  const auto config = dir_.path() / "server.yaml";
  testing::writeFile(config,
                     "grpc: {listen: 127.0.0.1:7000}\n"
                     "metrics: {listen: 127.0.0.1:7001}\n"
                     "models:\n  - {name: a, path: ref, slots: 2}\n  - {name: b, path: other}\n"
                     "scheduler: {max_batch: 2, max_queued: 5, pipeline_decode: true}\n"
                     "logging: {level: error}\n");
  testing::writeFile(dir_.path() / "token", "flag-token\n");
  auto c = run({"--config", config.string(), "--listen", "127.0.0.1:8000", "--metrics-listen",
                "127.0.0.1:8001", "--dtype", "float16", "--device", "cuda:0", "--slots", "16",
                "--max-batch", "16", "--log-level", "debug", "--drain-timeout", "7",
                "--default-model", "b", "--variants", "dense,masked", "--pipeline-decode", "false",
                "--cpu-threads", "2", "--idle-spin-us", "300", "--admin-listen", "127.0.0.1:8002",
                "--admin-token-file", path("token")});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->grpcListen, "127.0.0.1:8000");
  EXPECT_EQ(c->metricsListen, "127.0.0.1:8001");
  EXPECT_EQ(c->adminListen, "127.0.0.1:8002");
  EXPECT_EQ(c->adminTokenFile, path("token"));
  EXPECT_TRUE(c->adminEnabled);
  ASSERT_EQ(c->models.size(), 2u);
  for (const auto& m : c->models) {
    EXPECT_EQ(m.dtype, "fp16");
    EXPECT_EQ(m.device, "cuda:0");
    EXPECT_EQ(m.slots, 16);
    EXPECT_EQ(m.variants, (std::vector<std::string>{"dense", "masked"}));
  }
  EXPECT_EQ(c->models[0].path, path("ref"));
  EXPECT_EQ(c->scheduler.maxBatch, 16);
  EXPECT_EQ(c->scheduler.maxQueued, 5);  // from the file
  EXPECT_FALSE(c->scheduler.pipelineDecode);
  EXPECT_EQ(c->scheduler.idleSpinMicros, 300);
  EXPECT_EQ(c->cpuThreads, 2);
  EXPECT_EQ(c->logLevel, LogLevel::kDebug);
  EXPECT_EQ(c->drainTimeoutSeconds, 7);
  EXPECT_EQ(c->defaultModel, "b");
}

TEST_F(ServerFlagsTest, ModelFlagReplacesConfiguredModels) {
  const auto config = dir_.path() / "server.yaml";
  testing::writeFile(config, "models:\n  - {name: a, path: ref}\n  - {name: b, path: other}\ndefault_model: b\n");
  auto c = run({"--config", config.string(), "--model", path("other"), "--name", "custom", "--no-metrics", "--no-admin"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ASSERT_EQ(c->models.size(), 1u);
  EXPECT_EQ(c->models[0].name, "custom");
  EXPECT_EQ(c->models[0].path, path("other"));
  EXPECT_TRUE(c->defaultModel.empty());
  EXPECT_FALSE(c->metricsEnabled);
  EXPECT_FALSE(c->adminEnabled);
}

TEST_F(ServerFlagsTest, BadFlagValuesNameTheFlag) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--listen", "nope"}, "--listen: expected HOST:PORT"},
      {{"--metrics-listen", "h:99999"}, "--metrics-listen: expected HOST:PORT"},
      {{"--admin-listen", "h"}, "--admin-listen: expected HOST:PORT"},
      {{"--dtype", "int8"}, "--dtype: must be one of fp32, bf16, fp16, got \"int8\""},
      {{"--device", "gpu"}, "--device: must be cpu, cuda or cuda:N"},
      {{"--variants", "dense,weird"}, "--variants: each must be one of"},
      {{"--slots", "0"}, "--slots: must be a positive integer, got 0"},
      {{"--max-batch", "-1"}, "--max-batch: must be a positive integer"},
      {{"--log-level", "chatty"}, "--log-level: must be one of debug, info, warning, error"},
      {{"--drain-timeout", "-3"}, "--drain-timeout: must be a non-negative number"},
      {{"--pipeline-decode", "maybe"}, "--pipeline-decode"},  // CLI11's own type check
      {{"--cpu-threads", "-1"}, "--cpu-threads: must be a non-negative integer"},
      {{"--idle-spin-us", "-1"}, "--idle-spin-us: must be an integer in [0, 1000000]"},
      {{"--idle-spin-us", "1000001"}, "--idle-spin-us: must be an integer in [0, 1000000]"},
      {{"--slots", "many"}, "--slots"},                 // CLI11's own type check
      {{"--bogus-flag"}, "--bogus-flag"},               // unknown flag
      {{"--model", "/no/such/dir"}, "models[0].path: no such model directory"},
      {{"--default-model", "zzz"}, "default_model: \"zzz\""},
  };
  for (const auto& [args, expected] : cases) {
    auto c = run(args);
    ASSERT_FALSE(c.isOk()) << args[0];
    EXPECT_NE(c.status().message().find(expected), std::string::npos)
        << args[0] << ": " << c.status().message();
  }
}

TEST_F(ServerFlagsTest, DefaultModelCandidatesWalkUpFromTheExecutable) {
  const auto exe = dir_.path() / "default/build/server/app/mamba-server";
  const auto candidates = defaultModelCandidates(exe);
  auto found = findDefaultModel(candidates);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->string(), path("default/models/mamba2-ref"));
}

}  // namespace
}  // namespace mamba::config
