// Generate and GenerateStream end to end on the loopback server.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.status().isOk()) << server_.status().toString(); }
  LoopbackServer server_;
};

TEST_F(GenerateTest, UnaryTextPrompt) {
  auto stub = server_.stub();
  pb::GenerateRequest req;
  req.set_prompt_text("ROMEO:");
  req.mutable_sampling()->set_temperature(0);
  req.set_max_new_tokens(16);
  req.set_ignore_eos(true);
  UnaryResult r = runUnary(*stub, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  const auto& resp = r.response;
  EXPECT_EQ(resp.token_ids_size(), 16);
  EXPECT_EQ(resp.finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(resp.model(), kModelName);
  EXPECT_EQ(resp.variant(), "dense");
  EXPECT_TRUE(isValidUtf8(resp.text()));
  EXPECT_EQ(resp.logprobs_size(), 0);
  const auto& t = resp.timing();
  EXPECT_EQ(t.prompt_tokens(), 6);  // byte-level: one token per byte
  EXPECT_EQ(t.generated_tokens(), 16);
  EXPECT_GT(t.ttft_seconds(), 0);
  EXPECT_GE(t.ttft_seconds(), t.queue_seconds());
  EXPECT_GE(t.e2e_seconds(), t.ttft_seconds());
  EXPECT_GT(t.mean_tpot_seconds(), 0);
  EXPECT_GE(t.decode_seconds(), 0);
}

TEST_F(GenerateTest, StreamMatchesUnaryAndEndsWithFinal) {
  auto stub = server_.stub();
  const pb::GenerateRequest req = greedyRequest(promptIds(24, 7), 48);
  UnaryResult unary = runUnary(*stub, req);
  ASSERT_TRUE(unary.status.ok()) << unary.status.error_message();
  StreamResult stream = runStream(*stub, req);
  ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
  EXPECT_EQ(stream.tokens, std::vector<int32_t>(unary.response.token_ids().begin(),
                                                unary.response.token_ids().end()));
  EXPECT_EQ(stream.text, unary.response.text());
  EXPECT_GE(stream.chunks, 1);
  ASSERT_TRUE(stream.final.has_value());
  EXPECT_TRUE(stream.finalWasLast);
  EXPECT_EQ(stream.final->finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(stream.final->timing().generated_tokens(), 48);
  EXPECT_EQ(stream.final->timing().prompt_tokens(), 24);
  EXPECT_EQ(stream.final->model(), kModelName);
  // Text deltas never split a UTF-8 character.
  for (const auto& delta : stream.textDeltas) EXPECT_TRUE(isValidUtf8(delta));
}

TEST_F(GenerateTest, StreamAndUnaryLogprobs) {
  auto stub = server_.stub();
  pb::GenerateRequest req = greedyRequest(promptIds(8, 3), 12);
  req.set_logprobs(true);
  req.set_top_logprobs(3);
  StreamResult stream = runStream(*stub, req);
  ASSERT_TRUE(stream.status.ok()) << stream.status.error_message();
  ASSERT_EQ(stream.logprobs.size(), stream.tokens.size());
  for (size_t i = 0; i < stream.tokens.size(); ++i) {
    const auto& lp = stream.logprobs[i];
    EXPECT_EQ(lp.token_id(), stream.tokens[i]);
    EXPECT_LE(lp.logprob(), 0.0f);
    ASSERT_EQ(lp.top_size(), 3);
    EXPECT_GE(lp.top(0).logprob(), lp.top(1).logprob());
    EXPECT_GE(lp.top(1).logprob(), lp.top(2).logprob());
    // Greedy: the sampled token is the most likely one.
    EXPECT_EQ(lp.top(0).token_id(), lp.token_id());
    EXPECT_NEAR(lp.top(0).logprob(), lp.logprob(), 1e-5);
  }
  UnaryResult unary = runUnary(*stub, req);
  ASSERT_TRUE(unary.status.ok());
  ASSERT_EQ(unary.response.logprobs_size(), unary.response.token_ids_size());
  for (int i = 0; i < unary.response.logprobs_size(); ++i) {
    EXPECT_EQ(unary.response.logprobs(i).token_id(), unary.response.token_ids(i));
    EXPECT_NEAR(unary.response.logprobs(i).logprob(), stream.logprobs[i].logprob(), 1e-4);
  }
}

TEST_F(GenerateTest, StopTokenIdEndsWithStop) {
  auto stub = server_.stub();
  pb::GenerateRequest req = greedyRequest(promptIds(10, 11), 16);
  UnaryResult full = runUnary(*stub, req);
  ASSERT_TRUE(full.status.ok());
  const int32_t stopToken = full.response.token_ids(5);
  int firstAt = 0;
  while (full.response.token_ids(firstAt) != stopToken) ++firstAt;
  req.add_stop_token_ids(stopToken);
  StreamResult stopped = runStream(*stub, req);
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  ASSERT_TRUE(stopped.final.has_value());
  EXPECT_EQ(stopped.final->finish_reason(), pb::FINISH_REASON_STOP);
  EXPECT_EQ(stopped.tokens.size(), static_cast<size_t>(firstAt + 1));
  EXPECT_EQ(stopped.tokens.back(), stopToken);
}

TEST_F(GenerateTest, StopStringEndsWithStopString) {
  auto stub = server_.stub();
  pb::GenerateRequest req;
  req.set_prompt_text("to be or not to be");
  req.mutable_sampling()->set_temperature(0);
  req.set_max_new_tokens(64);
  req.set_ignore_eos(true);
  UnaryResult full = runUnary(*stub, req);
  ASSERT_TRUE(full.status.ok());
  const std::string& text = full.response.text();
  // An ASCII character of the output (the random model also emits bytes that decode to
  // U+FFFD, which stop strings do not match) as the stop string.
  size_t at = std::string::npos;
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] > ' ' && text[i] < 0x7f) at = i;
  }
  if (at == std::string::npos) GTEST_SKIP() << "no ASCII character in the output";
  req.add_stop_strings(text.substr(at, 1));
  UnaryResult stopped = runUnary(*stub, req);
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  EXPECT_EQ(stopped.response.finish_reason(), pb::FINISH_REASON_STOP_STRING);
  EXPECT_LT(stopped.response.text().size(), text.size());
  EXPECT_EQ(text.compare(0, stopped.response.text().size(), stopped.response.text()), 0);
}

TEST_F(GenerateTest, SlowReaderGetsCoalescedBoundedChunks) {
  // A client with a small, fixed HTTP/2 window (no BDP auto-tuning): while it reads nothing,
  // the server's writes stall after a few KB.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8192);
  auto channel = grpc::CreateCustomChannel(server_.address(), grpc::InsecureChannelCredentials(), args);
  ASSERT_TRUE(channel->WaitForConnected(deadlineIn(std::chrono::seconds(30))));
  auto stub = pb::Inference::NewStub(channel);
  constexpr int kTokens = 1500;
  pb::GenerateRequest req = greedyRequest(promptIds(8, 2), kTokens);
  req.set_logprobs(true);
  req.set_top_logprobs(20);  // ~200 bytes per token
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(std::chrono::seconds(120)));
  auto reader = stub->GenerateStream(&ctx, req);
  // Read nothing for a while: once the window is full the server's write stays in flight
  // and the engine's tokens pile up behind it, coalesced into chunks of at most 256.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  pb::GenerateStreamResponse msg;
  int tokens = 0, chunks = 0, largest = 0;
  while (reader->Read(&msg)) {
    if (!msg.has_chunk()) continue;
    ++chunks;
    tokens += msg.chunk().token_ids_size();
    EXPECT_EQ(msg.chunk().logprobs_size(), msg.chunk().token_ids_size());
    largest = std::max(largest, msg.chunk().token_ids_size());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(tokens, kTokens);
  EXPECT_LE(largest, 256);
  EXPECT_LT(chunks, kTokens);  // coalesced
  EXPECT_GT(largest, 1);
  RecordProperty("chunks", chunks);
  RecordProperty("largest_chunk", largest);
}

TEST_F(GenerateTest, SeededSamplingIsReproducible) {
  auto stub = server_.stub();
  pb::GenerateRequest req = greedyRequest(promptIds(12, 5), 24);
  req.mutable_sampling()->set_temperature(1.0f);
  req.mutable_sampling()->set_top_p(0.9f);
  req.mutable_sampling()->set_seed(42);
  StreamResult a = runStream(*stub, req);
  StreamResult b = runStream(*stub, req);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.tokens, b.tokens);
}

TEST_F(GenerateTest, ExplicitModelAndVariant) {
  auto stub = server_.stub();
  pb::GenerateRequest req = greedyRequest(promptIds(4, 1), 4);
  req.set_model(kModelName);
  req.set_variant("dense");
  UnaryResult r = runUnary(*stub, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.model(), kModelName);
  EXPECT_EQ(r.response.variant(), "dense");
}

}  // namespace
}  // namespace mamba::rpctest
