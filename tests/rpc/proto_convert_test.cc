#include "server/rpc/proto_convert.h"

#include <gtest/gtest.h>

namespace mamba::rpc {
namespace {

TEST(ProtoConvert, GenerateRequestDefaultsComeFromTheEngine) {
  pb::GenerateRequest req;
  req.set_prompt_text("hi");
  auto r = fromProto(req, std::nullopt);
  ASSERT_TRUE(r.isOk());
  const SamplingParams defaults;
  EXPECT_EQ(r->promptText, "hi");
  EXPECT_EQ(r->sampling.temperature, defaults.temperature);  // unset => 1, not proto's 0
  EXPECT_EQ(r->sampling.topP, defaults.topP);
  EXPECT_EQ(r->sampling.repetitionPenalty, defaults.repetitionPenalty);
  EXPECT_EQ(r->sampling.maxNewTokens, defaults.maxNewTokens);
  EXPECT_FALSE(r->sampling.seed.has_value());
  EXPECT_FALSE(r->deadline.has_value());
}

TEST(ProtoConvert, GenerateRequestCopiesEveryField) {
  pb::GenerateRequest req;
  req.set_model("m");
  req.set_variant("masked");
  req.mutable_prompt_tokens()->add_ids(3);
  req.mutable_prompt_tokens()->add_ids(4);
  auto* s = req.mutable_sampling();
  s->set_temperature(0);
  s->set_top_k(5);
  s->set_top_p(0.5f);
  s->set_min_p(0.1f);
  s->set_repetition_penalty(1.2f);
  s->set_seed(99);
  req.set_max_new_tokens(7);
  req.add_stop_strings("\n\n");
  req.add_stop_token_ids(0);
  req.set_ignore_eos(true);
  req.set_logprobs(true);
  req.set_top_logprobs(4);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  auto r = fromProto(req, deadline);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->variant, "masked");
  EXPECT_FALSE(r->promptText.has_value());
  EXPECT_EQ(r->promptTokens, (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.topK, 5);
  EXPECT_EQ(r->sampling.topP, 0.5f);
  EXPECT_EQ(r->sampling.minP, 0.1f);
  EXPECT_EQ(r->sampling.repetitionPenalty, 1.2f);
  EXPECT_EQ(r->sampling.seed, 99u);
  EXPECT_EQ(r->sampling.maxNewTokens, 7);
  EXPECT_EQ(r->sampling.stopStrings, (std::vector<std::string>{"\n\n"}));
  EXPECT_EQ(r->sampling.stopTokenIds, (std::vector<int32_t>{0}));
  EXPECT_TRUE(r->sampling.ignoreEos);
  EXPECT_EQ(r->sampling.logprobs, 4);
  EXPECT_EQ(r->deadline, deadline);
}

TEST(ProtoConvert, ShapeErrorsNameTheField) {
  pb::GenerateRequest none;
  auto r = fromProto(none, std::nullopt);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("prompt"), std::string::npos);

  pb::ScoreRequest score;
  score.set_context_text("c");
  auto s = fromProto(score, std::nullopt);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("continuations"), std::string::npos);
  score.add_continuation_tokens();
  s = fromProto(score, std::nullopt);
  EXPECT_NE(s.status().message().find("continuation_tokens[0]"), std::string::npos);
}

TEST(ProtoConvert, EngineFieldPathsBecomeRequestFieldPaths) {
  EXPECT_EQ(toApiFieldNames(invalidArgument("sampling.max_new_tokens must be in [1, 8], got 9")).message(),
            "max_new_tokens must be in [1, 8], got 9");
  EXPECT_EQ(toApiFieldNames(invalidArgument("sampling.stop_strings[0] must be ...")).message(),
            "stop_strings[0] must be ...");
  EXPECT_EQ(toApiFieldNames(invalidArgument("sampling.logprobs must be in [0, 20]")).message(),
            "top_logprobs must be in [0, 20]");
  EXPECT_EQ(toApiFieldNames(invalidArgument("sampling.top_p must be in (0, 1]")).message(),
            "sampling.top_p must be in (0, 1]");
  EXPECT_EQ(toApiFieldNames(notFound("sampling.max_new_tokens")).message(), "sampling.max_new_tokens");
}

TEST(ProtoConvert, DeadlineConversion) {
  EXPECT_FALSE(steadyDeadline(std::chrono::system_clock::time_point::max()).has_value());
  const auto d = steadyDeadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(d.has_value());
  const auto left = *d - std::chrono::steady_clock::now();
  EXPECT_GT(left, std::chrono::seconds(9));
  EXPECT_LE(left, std::chrono::seconds(10));
}

TEST(ProtoConvert, FinishReasonsAndFinalStatus) {
  EXPECT_EQ(toProto(FinishReason::kLength), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(toProto(FinishReason::kStop), pb::FINISH_REASON_STOP);
  EXPECT_EQ(toProto(FinishReason::kStopString), pb::FINISH_REASON_STOP_STRING);
  EXPECT_EQ(toProto(FinishReason::kCancelled), pb::FINISH_REASON_CANCELLED);
  EXPECT_EQ(toProto(FinishReason::kDeadline), pb::FINISH_REASON_DEADLINE);
  EXPECT_EQ(toProto(FinishReason::kError), pb::FINISH_REASON_ERROR);
  GenerateResult r;
  r.finishReason = FinishReason::kDeadline;
  EXPECT_EQ(finalStatus(r).code(), StatusCode::kDeadlineExceeded);
  r.finishReason = FinishReason::kStop;
  EXPECT_TRUE(finalStatus(r).isOk());
  r.status = resourceExhausted("queue full");
  EXPECT_EQ(finalStatus(r).code(), StatusCode::kResourceExhausted);
}

TEST(ProtoConvert, ListModelsGroupsVariantsByModel) {
  auto info = [](const char* name, const char* variant, std::vector<int64_t> sizes) {
    ModelInfo m;
    m.name = name;
    m.variant = variant;
    m.stateSizes = std::move(sizes);
    return m;
  };
  const ModelInfo a = info("m", "dense", {16, 8});
  const ModelInfo b = info("m", "compacted", {4, 2});
  const ModelInfo c = info("n", "dense", {});
  pb::ListModelsResponse out;
  toProto({a, b, c}, "", &out);
  ASSERT_EQ(out.models_size(), 2);
  EXPECT_EQ(out.default_model(), "m");
  ASSERT_EQ(out.models(0).variants_size(), 2);
  EXPECT_EQ(out.models(0).variants(1).variant(), "compacted");
  EXPECT_EQ(out.models(0).variants(1).state_sizes(0), 4);
  EXPECT_EQ(out.models(1).name(), "n");
}

}  // namespace
}  // namespace mamba::rpc
