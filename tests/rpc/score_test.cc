// Score: lm-evaluation-harness semantics over RPC, checked against the logprobs of a greedy
// generation from the same server.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

class ScoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.status().isOk()) << server_.status().toString(); }
  grpc::Status score(const pb::ScoreRequest& req, pb::ScoreResponse* resp) {
    auto stub = server_.stub();
    grpc::ClientContext ctx;
    ctx.set_deadline(deadlineIn(std::chrono::seconds(60)));
    return stub->Score(&ctx, req, resp);
  }
  LoopbackServer server_;
};

TEST_F(ScoreTest, GreedyContinuationMatchesGenerationLogprobs) {
  const std::vector<int32_t> prompt = promptIds(20, 9);
  pb::GenerateRequest gen = greedyRequest(prompt, 8);
  gen.set_logprobs(true);
  auto stub = server_.stub();
  UnaryResult g = runUnary(*stub, gen);
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  double sum = 0;
  for (const auto& lp : g.response.logprobs()) sum += lp.logprob();

  pb::ScoreRequest req;
  req.mutable_context_tokens()->mutable_ids()->Assign(prompt.begin(), prompt.end());
  // The greedy continuation, and the same with its first token replaced by another one.
  auto* greedy = req.add_continuation_tokens();
  greedy->mutable_ids()->Assign(g.response.token_ids().begin(), g.response.token_ids().end());
  auto* other = req.add_continuation_tokens();
  other->mutable_ids()->Assign(g.response.token_ids().begin(), g.response.token_ids().end());
  other->set_ids(0, (g.response.token_ids(0) + 1) % 256);
  pb::ScoreResponse resp;
  grpc::Status s = score(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.scores_size(), 2);
  EXPECT_EQ(resp.model(), kModelName);
  EXPECT_EQ(resp.variant(), "dense");
  const auto& a = resp.scores(0);
  EXPECT_TRUE(a.is_greedy());
  EXPECT_EQ(a.num_tokens(), 8);
  EXPECT_NEAR(a.logprob(), sum, 1e-3 * std::max(1.0, std::abs(sum)));
  const auto& b = resp.scores(1);
  EXPECT_FALSE(b.is_greedy());
  EXPECT_EQ(b.num_tokens(), 8);
  EXPECT_LT(b.logprob(), 0);
}

TEST_F(ScoreTest, TextContinuationsCountTokensAndBytes) {
  pb::ScoreRequest req;
  req.set_context_text("The capital of France is");
  req.add_continuations(" Paris");
  req.add_continuations(" Lyon, \xC3\xA9t\xC3\xA9");  // UTF-8: bytes != characters
  pb::ScoreResponse resp;
  grpc::Status s = score(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.scores_size(), 2);
  EXPECT_EQ(resp.scores(0).num_tokens(), 6);  // byte-level tokenizer: one token per byte
  EXPECT_EQ(resp.scores(0).num_bytes(), 6);
  EXPECT_EQ(resp.scores(1).num_bytes(), 12);
  EXPECT_EQ(resp.scores(1).num_tokens(), 12);
  for (const auto& sc : resp.scores()) {
    EXPECT_TRUE(std::isfinite(sc.logprob()));
    EXPECT_LT(sc.logprob(), 0);
  }
}

}  // namespace
}  // namespace mamba::rpctest
