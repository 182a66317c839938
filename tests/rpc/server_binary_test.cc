// The built binaries as a user runs them: mamba-server as a child process (default-model
// lookup, config errors, SIGTERM drain with exit code 0, the report a fatal signal leaves) and
// mamba-cli against it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/common/test_cert.h"
#include "tests/common/test_support.h"
#include "tests/rpc/rpc_calls.h"
#include "tests/rpc/test_model.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

std::string serverBinary() { return builtExecutable("server/app/mamba-server"); }
std::string cliBinary() { return builtExecutable("client/mamba-cli"); }

// The health status, or nullopt when the server does not answer.
std::optional<HealthResponse::ServingStatus> health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(1s));
  HealthResponse resp;
  if (!stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok()) return std::nullopt;
  return resp.status();
}

// Polls health until SERVING, each time on a new channel with a subchannel of its own (gRPC
// otherwise shares subchannels between channels to one address): a channel whose first attempts
// failed while the child was starting waits out the reconnect backoff (seconds) before trying
// again. Returns a channel connected to the serving child.
std::shared_ptr<grpc::Channel> waitServing(const std::string& address, testing::ChildProcess& child,
                                           std::shared_ptr<grpc::ChannelCredentials> credentials =
                                               grpc::InsecureChannelCredentials()) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const auto until = Clock::now() + 60s;
  while (Clock::now() < until && child.alive()) {
    auto channel = grpc::CreateCustomChannel(address, credentials, args);
    if (health(channel) == HealthResponse::SERVING) return channel;
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}

class ServerBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    grpcPort_ = testing::freeTcpPort();
    metricsPort_ = testing::freeTcpPort();
    adminPort_ = testing::freeTcpPort();
    address_ = "127.0.0.1:" + std::to_string(grpcPort_);
    log_ = dir_.path() / "server.log";
  }
  std::unique_ptr<testing::ChildProcess> start(std::vector<std::string> extra) {
    std::vector<std::string> argv = {serverBinary(), "--listen", address_, "--metrics-listen",
                                     "127.0.0.1:" + std::to_string(metricsPort_), "--admin-listen",
                                     "127.0.0.1:" + std::to_string(adminPort_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<testing::ChildProcess>(argv, log_);
  }
  std::string log() const { return testing::readFile(log_); }

  testing::TempDir dir_;
  int grpcPort_ = 0, metricsPort_ = 0, adminPort_ = 0;
  std::string address_;
  std::filesystem::path log_;
};

TEST_F(ServerBinary, DefaultModelServesAndSigtermDrainsThenExitsZero) {
  // No --model and no config: the server looks up the built-in default model; point the
  // lookup at the tiny model (the reference model is too slow for this test).
  ::setenv("MAMBA_DEFAULT_MODEL", tinyModelDir().c_str(), 1);
  auto server = start({"--max-new-tokens-limit", "100000", "--drain-timeout", "120"});
  ::unsetenv("MAMBA_DEFAULT_MODEL");
  auto channel = waitServing(address_, *server);
  ASSERT_TRUE(channel) << log();

  httplib::Client metrics("127.0.0.1", metricsPort_);
  auto scraped = metrics.Get("/metrics");
  ASSERT_TRUE(scraped && scraped->status == 200);
  EXPECT_NE(scraped->body.find("mamba_build_info"), std::string::npos);

  auto stub = pb::Inference::NewStub(channel);
  constexpr int32_t kTokens = 3000;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(300s));
  auto reader = stub->GenerateStream(&ctx, greedyRequest(promptIds(8, 1), kTokens));
  pb::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  size_t tokens = msg.chunk().token_ids_size();

  // SIGTERM; stop() then waits for the exit.
  auto exited = std::async(std::launch::async, [&] { return server->stop(300s); });
  const auto until = Clock::now() + 20s;
  std::optional<HealthResponse::ServingStatus> h;
  while (Clock::now() < until && (h = health(channel)) == HealthResponse::SERVING) {
    std::this_thread::sleep_for(5ms);
  }
  if (h == HealthResponse::NOT_SERVING) {
    // Draining: a new request is refused while the stream still runs.
    UnaryResult refused = runUnary(*stub, greedyRequest(promptIds(4, 2), 4), 10s);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << refused.status.error_message();
  } else {
    ADD_FAILURE() << "never saw NOT_SERVING; the stream ended before the checks ran?";
  }
  bool sawFinal = false;
  while (reader->Read(&msg)) {
    tokens += msg.chunk().token_ids_size();
    sawFinal = sawFinal || msg.has_final();
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(sawFinal);
  EXPECT_EQ(tokens, static_cast<size_t>(kTokens));
  const int status = exited.get();
  ASSERT_TRUE(WIFEXITED(status)) << log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << log();
  EXPECT_NE(log().find("received SIGTERM"), std::string::npos) << log();
  EXPECT_NE(log().find("shut down cleanly"), std::string::npos) << log();
}

TEST_F(ServerBinary, AFatalSignalLeavesAReportInTheLogAndKillsTheServer) {
  const rlimit noCore{0, 0};  // the server inherits it: no core file from this test
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &noCore), 0);
  auto server = start({"--model", tinyModelDir()});
  auto channel = waitServing(address_, *server);
  ASSERT_TRUE(channel) << log();
  ASSERT_TRUE(server->sendSignal(SIGSEGV));
  const int status = server->waitExit(30s);
  ASSERT_TRUE(WIFSIGNALED(status)) << status << "\n" << log();
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);  // re-raised: the exit status a supervisor expects
  const std::string text = log();
  EXPECT_NE(text.find("*** mamba-server caught signal Segmentation fault\nsent by process"), std::string::npos)
      << text;
  EXPECT_NE(text.find("backtrace:\n"), std::string::npos) << text;
}

TEST_F(ServerBinary, ConfigErrorsNameTheKeyAndExitNonZero) {
  const std::pair<std::string, std::string> cases[] = {
      {"scheduler:\n  max_batch: x\n", "scheduler.max_batch: must be a positive integer, got \"x\""},
      {"scheduler:\n  max_bacth: 4\n", "scheduler.max_bacth: unknown key"},
      {"models:\n  - path: " + tinyModelDir() + "\n    dtype: int8\n",
       "models[0].dtype: must be one of fp32, bf16, fp16, got \"int8\""},
      {"grpc:\n  listen: nowhere\n", "grpc.listen: expected HOST:PORT"},
  };
  for (const auto& [yaml, expected] : cases) {
    const auto file = dir_.path() / "bad.yaml";
    testing::writeFile(file, yaml);
    auto r = testing::runCommand({serverBinary(), "--config", file.string()}, "", 30s);
    EXPECT_EQ(r.exitCode, 2) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  }
  auto r = testing::runCommand({serverBinary(), "--model", tinyModelDir(), "--dtype", "int4"}, "", 30s);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--dtype: must be one of"), std::string::npos) << r.output;
}

TEST_F(ServerBinary, ConfigFileWithFlagOverridesAndCliCommands) {
  const auto config = dir_.path() / "server.yaml";
  testing::writeFile(config,
                     "grpc:\n  listen: 127.0.0.1:1\n"  // overridden by --listen
                     "models:\n  - name: shakespeare\n    path: " + tinyModelDir() + "\n    slots: 3\n"
                     "scheduler:\n  max_batch: 3\n"
                     "logging:\n  level: debug\n"
                     "shutdown:\n  drain_timeout_seconds: 5\n");
  testing::writeFile(dir_.path() / "admin-token", "  cli-admin-token\n");
  const std::string tokenFile = "--token-file=" + (dir_.path() / "admin-token").string();
  auto server = start({"--config", config.string(), "--slots", "4", "--admin-token-file",
                       (dir_.path() / "admin-token").string()});
  auto channel = waitServing(address_, *server);
  ASSERT_TRUE(channel) << log();

  const std::string target = "--target=" + address_;
  auto gen = testing::runCommand({cliBinary(), target, "generate", "ROMEO:", "-n", "16", "-t", "0"}, "", 60s);
  EXPECT_EQ(gen.exitCode, 0) << gen.output;
  EXPECT_NE(gen.output.find("shakespeare/dense finish=length prompt=6 generated=16"), std::string::npos)
      << gen.output;
  auto unary = testing::runCommand({cliBinary(), target, "generate", "ROMEO:", "-n", "16", "-t", "0", "--unary"}, "", 60s);
  EXPECT_EQ(unary.exitCode, 0) << unary.output;
  auto models = testing::runCommand({cliBinary(), target, "models"}, "", 30s);
  EXPECT_EQ(models.exitCode, 0) << models.output;
  EXPECT_NE(models.output.find("shakespeare (dense)"), std::string::npos) << models.output;
  EXPECT_NE(models.output.find("4 slots"), std::string::npos) << models.output;  // --slots won
  auto healthOut = testing::runCommand({cliBinary(), target, "health"}, "", 30s);
  EXPECT_EQ(healthOut.exitCode, 0);
  EXPECT_NE(healthOut.output.find("SERVING"), std::string::npos);
  auto score = testing::runCommand({cliBinary(), target, "score", "--context", "Hello", "--continuation",
                                    " world", "--continuation", "!", "--json"}, "", 30s);
  EXPECT_EQ(score.exitCode, 0) << score.output;
  EXPECT_NE(score.output.find("\"num_bytes\": 6"), std::string::npos) << score.output;
  auto bad = testing::runCommand({cliBinary(), target, "generate", "x", "--top-p", "2"}, "", 30s);
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.output.find("INVALID_ARGUMENT: sampling.top_p"), std::string::npos) << bad.output;

  // Admin: prune on the server (calibrating on a real text), hot-swapped in as "compacted".
  // The server requires the token in admin-token (--admin-token-file); every admin command
  // below passes it, and one without it is refused.
  const std::string adminTarget = "--admin-target=127.0.0.1:" + std::to_string(adminPort_);
  auto noToken = testing::runCommand(
      {cliBinary(), "admin", adminTarget, "unload", "--model", "shakespeare", "--variant", "compacted"}, "", 30s);
  EXPECT_EQ(noToken.exitCode, 1) << noToken.output;
  EXPECT_NE(noToken.output.find("UNAUTHENTICATED"), std::string::npos) << noToken.output;
  const std::string pruned = (dir_.path() / "pruned").string();
  const std::string text = std::string(MAMBA_SOURCE_DIR) + "/tests/data/wikitext2_heldout_4k.txt";
  auto prune = testing::runCommand({cliBinary(), "admin", adminTarget, tokenFile, "prune", "--model", "shakespeare", "--ratio",
                                    "0.25", "--calibration-text", text, "--calibration-tokens", "512", "--out", pruned},
                                   "", 120s);
  EXPECT_EQ(prune.exitCode, 0) << prune.output;
  EXPECT_NE(prune.output.find("\"state_sizes\": [\n  \"12\""), std::string::npos) << prune.output;
  EXPECT_NE(prune.output.find("\"variant\": \"compacted\""), std::string::npos) << prune.output;
  auto withPruned = testing::runCommand({cliBinary(), target, "models"}, "", 30s);
  EXPECT_NE(withPruned.output.find("shakespeare (compacted)"), std::string::npos) << withPruned.output;
  auto viaPruned = testing::runCommand(
      {cliBinary(), target, "generate", "ROMEO:", "-n", "8", "-t", "0", "--variant", "compacted"}, "", 60s);
  EXPECT_NE(viaPruned.output.find("shakespeare/compacted finish=length prompt=6 generated=8"), std::string::npos)
      << viaPruned.output;
  auto badPrune = testing::runCommand({cliBinary(), "admin", adminTarget, tokenFile, "prune", "--model", "shakespeare",
                                       "--ratio", "2", "--calibration-text", text, "--out", pruned + "2"}, "", 30s);
  EXPECT_EQ(badPrune.exitCode, 1);
  EXPECT_NE(badPrune.output.find("INVALID_ARGUMENT: ratio must be in [0, 1)"), std::string::npos) << badPrune.output;
  auto unload = testing::runCommand(
      {cliBinary(), "admin", adminTarget, tokenFile, "unload", "--model", "shakespeare", "--variant", "compacted"},
      "", 30s);
  EXPECT_EQ(unload.exitCode, 0) << unload.output;

  const auto json = dir_.path() / "bench.json";
  auto bench = testing::runCommand({cliBinary(), target, "bench", "-c", "3", "-r", "9", "--prompt-tokens",
                                    "4:16", "--output-tokens", "8", "--json", json.string()}, "", 120s);
  EXPECT_EQ(bench.exitCode, 0) << bench.output;
  EXPECT_NE(bench.output.find("TTFT"), std::string::npos) << bench.output;
  auto report = nlohmann::json::parse(testing::readFile(json), nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << testing::readFile(json);
  EXPECT_EQ(report["succeeded"], 9);
  EXPECT_EQ(report["output_tokens"], 72);
  EXPECT_EQ(report["ttft_seconds"]["count"], 9);

  const int status = server->stop(60s);
  ASSERT_TRUE(WIFEXITED(status)) << log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << log();

  // No server there any more: one clear error naming the target, after --connect-timeout.
  const auto t0 = std::chrono::steady_clock::now();
  auto down = testing::runCommand({cliBinary(), target, "--connect-timeout", "1", "health"}, "", 30s);
  EXPECT_EQ(down.exitCode, 1) << down.output;
  EXPECT_NE(down.output.find("cannot connect to " + address_ + " within 1 s"), std::string::npos) << down.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(ServerBinary, TlsServesTheCliThatTrustsItsCertificate) {
  const testing::TestCert& cert = testing::testCert();
  ASSERT_TRUE(cert.error.empty()) << cert.error;
  auto server = start({"--model", tinyModelDir(), "--no-metrics", "--tls-cert", cert.certFile.string(), "--tls-key",
                       cert.keyFile.string()});
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert.certPem;
  auto channel = waitServing(address_, *server, grpc::SslCredentials(ssl));
  ASSERT_TRUE(channel) << log();
  EXPECT_NE(log().find("serving gRPC over TLS on " + address_), std::string::npos) << log();
  const std::string target = "--target=" + address_;
  auto gen = testing::runCommand({cliBinary(), target, "--tls-ca", cert.certFile.string(), "generate", "ROMEO:", "-n",
                                  "4", "-t", "0"},
                                 "", 60s);
  EXPECT_EQ(gen.exitCode, 0) << gen.output;
  EXPECT_NE(gen.output.find("finish=length prompt=6 generated=4"), std::string::npos) << gen.output;
  auto plain = testing::runCommand({cliBinary(), target, "--connect-timeout", "1", "health"}, "", 30s);
  EXPECT_EQ(plain.exitCode, 1) << plain.output;
  EXPECT_NE(plain.output.find("a TLS server needs --tls or --tls-ca"), std::string::npos) << plain.output;
  const std::string adminTarget = "--admin-target=127.0.0.1:" + std::to_string(adminPort_);
  auto admin = testing::runCommand({cliBinary(), "--tls-ca", cert.certFile.string(), "admin", adminTarget, "unload",
                                    "--model", "tiny", "--variant", "compacted"},
                                   "", 30s);
  EXPECT_EQ(admin.exitCode, 1) << admin.output;
  EXPECT_NE(admin.output.find("NOT_FOUND"), std::string::npos) << admin.output;  // reached the service over TLS
}

TEST_F(ServerBinary, PortInUseFailsWithAMessage) {
  auto first = start({"--model", tinyModelDir(), "--no-metrics"});
  auto channel = waitServing(address_, *first);
  ASSERT_TRUE(channel) << log();
  auto second = testing::runCommand(
      {serverBinary(), "--model", tinyModelDir(), "--listen", address_, "--no-metrics"}, "", 60s);
  EXPECT_EQ(second.exitCode, 1) << second.output;
  EXPECT_NE(second.output.find("cannot listen for gRPC on " + address_), std::string::npos)
      << second.output;
}

}  // namespace
}  // namespace mamba::rpctest
