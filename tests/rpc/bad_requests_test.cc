// A table of bad requests, each answered with the right code and a message naming the field,
// on both Generate and GenerateStream (and Score's own table), while a good stream runs
// concurrently; afterwards the server is healthy and serves a good request.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <thread>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;

struct BadGenerate {
  const char* name;
  std::function<void(pb::GenerateRequest&)> mutate;
  grpc::StatusCode code;
  const char* field;  // must appear in the error message
};

struct BadScore {
  const char* name;
  std::function<void(pb::ScoreRequest&)> mutate;
  grpc::StatusCode code;
  const char* field;
};

const grpc::StatusCode kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
const grpc::StatusCode kNotFound = grpc::StatusCode::NOT_FOUND;

std::vector<BadGenerate> badGenerateRequests() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return {
      {"no prompt", [](auto& r) { r.clear_prompt(); }, kInvalid, "prompt"},
      {"empty prompt text", [](auto& r) { r.set_prompt_text(""); }, kInvalid, "prompt_text"},
      {"empty prompt tokens", [](auto& r) { r.mutable_prompt_tokens()->clear_ids(); }, kInvalid, "prompt_tokens"},
      {"token id beyond vocab", [](auto& r) { r.mutable_prompt_tokens()->set_ids(0, 512); }, kInvalid, "prompt_tokens"},
      {"negative token id", [](auto& r) { r.mutable_prompt_tokens()->set_ids(1, -3); }, kInvalid, "prompt_tokens"},
      {"unknown model", [](auto& r) { r.set_model("no-such-model"); }, kNotFound, "model"},
      {"unknown variant", [](auto& r) { r.set_variant("masked"); }, kNotFound, "variant"},
      {"negative temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-1); }, kInvalid, "sampling.temperature"},
      {"NaN temperature", [=](auto& r) { r.mutable_sampling()->set_temperature(nan); }, kInvalid, "sampling.temperature"},
      {"huge temperature", [](auto& r) { r.mutable_sampling()->set_temperature(1e6f); }, kInvalid, "sampling.temperature"},
      {"negative top_k", [](auto& r) { r.mutable_sampling()->set_top_k(-1); }, kInvalid, "sampling.top_k"},
      {"top_k beyond vocab", [](auto& r) { r.mutable_sampling()->set_top_k(100000); }, kInvalid, "sampling.top_k"},
      {"top_p above 1", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); }, kInvalid, "sampling.top_p"},
      {"top_p zero", [](auto& r) { r.mutable_sampling()->set_top_p(0.0f); }, kInvalid, "sampling.top_p"},
      {"min_p one", [](auto& r) { r.mutable_sampling()->set_min_p(1.0f); }, kInvalid, "sampling.min_p"},
      {"repetition_penalty zero", [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0.0f); }, kInvalid, "sampling.repetition_penalty"},
      {"max_new_tokens zero", [](auto& r) { r.set_max_new_tokens(0); }, kInvalid, "max_new_tokens"},
      {"max_new_tokens above limit", [](auto& r) { r.set_max_new_tokens(1 << 30); }, kInvalid, "max_new_tokens"},
      {"stop token id beyond vocab", [](auto& r) { r.add_stop_token_ids(9999); }, kInvalid, "stop_token_ids[0]"},
      {"empty stop string", [](auto& r) { r.add_stop_strings(""); }, kInvalid, "stop_strings[0]"},
      {"stop string too long", [](auto& r) { r.add_stop_strings(std::string(300, 'a')); }, kInvalid, "stop_strings[0]"},
      {"too many stop strings", [](auto& r) { for (int i = 0; i < 17; ++i) r.add_stop_strings(std::to_string(1000 + i)); }, kInvalid, "stop_strings"},
      {"top_logprobs above 20", [](auto& r) { r.set_logprobs(true); r.set_top_logprobs(21); }, kInvalid, "top_logprobs"},
      {"top_logprobs without logprobs", [](auto& r) { r.set_top_logprobs(2); }, kInvalid, "top_logprobs"},
  };
}

std::vector<BadScore> badScoreRequests() {
  return {
      {"no context", [](auto& r) { r.clear_context(); }, kInvalid, "context"},
      {"no continuations", [](auto& r) { r.clear_continuations(); }, kInvalid, "continuations"},
      {"both continuation kinds", [](auto& r) { r.add_continuation_tokens()->add_ids(5); }, kInvalid, "continuation_tokens"},
      {"empty continuation", [](auto& r) { r.set_continuations(0, ""); }, kInvalid, "continuations[0]"},
      {"empty context tokens", [](auto& r) { r.mutable_context_tokens()->clear_ids(); }, kInvalid, "context_tokens"},
      {"context token beyond vocab", [](auto& r) { r.mutable_context_tokens()->add_ids(600); }, kInvalid, "context_tokens"},
      {"unknown model", [](auto& r) { r.set_model("nope"); }, kNotFound, "model"},
  };
}

class BadRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.status().isOk()) << server_.status().toString(); }
  LoopbackServer server_;
};

TEST_F(BadRequestsTest, EachGetsItsCodeAndNamesTheFieldWhileAGoodStreamRuns) {
  auto stub = server_.stub();
  // A good stream running concurrently with the whole table.
  StreamResult good;
  std::thread goodThread([&] {
    auto own = server_.stub();
    good = runStream(*own, greedyRequest(promptIds(16, 77), 400));
  });

  const auto generateCases = badGenerateRequests();
  ASSERT_GE(generateCases.size(), 15u);
  for (const auto& c : generateCases) {
    SCOPED_TRACE(c.name);
    pb::GenerateRequest req = greedyRequest(promptIds(6, 1), 8);
    c.mutate(req);
    UnaryResult unary = runUnary(*stub, req, 10s);
    EXPECT_EQ(unary.status.error_code(), c.code) << unary.status.error_message();
    EXPECT_NE(unary.status.error_message().find(c.field), std::string::npos)
        << "message \"" << unary.status.error_message() << "\" does not name " << c.field;
    StreamResult stream = runStream(*stub, req, 10s);
    EXPECT_EQ(stream.status.error_code(), c.code) << stream.status.error_message();
    EXPECT_EQ(stream.status.error_message(), unary.status.error_message());
    EXPECT_TRUE(stream.tokens.empty());
  }
  for (const auto& c : badScoreRequests()) {
    SCOPED_TRACE(::testing::Message() << "Score: " << c.name);
    pb::ScoreRequest req;
    req.mutable_context_tokens()->add_ids(10);
    *req.add_continuations() = std::string(1, 'x');
    c.mutate(req);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadlineIn(10s));
    pb::ScoreResponse resp;
    grpc::Status s = stub->Score(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << "message \"" << s.error_message() << "\" does not name " << c.field;
  }

  goodThread.join();
  EXPECT_TRUE(good.status.ok()) << good.status.error_message();
  EXPECT_EQ(good.tokens.size(), 400u);

  // Still healthy, and still serving.
  auto health = server_.healthStub();
  grpc::ClientContext hctx;
  hctx.set_deadline(deadlineIn(10s));
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(health->Check(&hctx, grpc::health::v1::HealthCheckRequest(), &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  UnaryResult after = runUnary(*stub, greedyRequest(promptIds(6, 1), 8));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.response.token_ids_size(), 8);
}

}  // namespace
}  // namespace mamba::rpctest
