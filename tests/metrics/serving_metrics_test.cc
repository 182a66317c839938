#include "server/metrics/serving_metrics.h"

#include <gtest/gtest.h>

namespace mamba::metrics {
namespace {

TEST(ServingMetrics, RegistersIssueFourNamesAndModelLoads) {
  Registry r;
  auto sm = ServingMetrics::create(r);
  ASSERT_TRUE(sm.isOk()) << sm.status().toString();
  const std::vector<std::string> expected = {
      "mamba_batch_size",           "mamba_decode_step_seconds",
      "mamba_generation_tokens_total", "mamba_inter_token_seconds",
      "mamba_model_loads_total",    "mamba_prefill_batch_seconds", "mamba_prompt_tokens_total",
      "mamba_request_e2e_seconds",  "mamba_request_queue_seconds",
      "mamba_request_tpot_seconds", "mamba_request_ttft_seconds",
      "mamba_requests_running",     "mamba_requests_total",
      "mamba_requests_waiting",     "mamba_state_bytes_per_sequence",
      "mamba_state_slots_capacity", "mamba_state_slots_used"};
  EXPECT_EQ(r.familyNames(), expected);
  (*sm)->modelLoad("m", "compacted", "replaced");
  (*sm)->modelLoad("m", "compacted", "replaced");
  EXPECT_NE(r.exposeText().find("mamba_model_loads_total{model=\"m\",variant=\"compacted\",result=\"replaced\"} 2"),
            std::string::npos)
      << r.exposeText();
}

TEST(ServingMetrics, PerModelHandlesAreCachedAndLabelled) {
  Registry r;
  auto sm = ServingMetrics::create(r);
  ASSERT_TRUE(sm.isOk());
  auto a = (*sm)->forModel("mamba2-130m", "dense");
  auto b = (*sm)->forModel("mamba2-130m", "dense");
  auto c = (*sm)->forModel("mamba2-130m", "masked");
  ASSERT_TRUE(a.isOk() && b.isOk() && c.isOk());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  (*a)->ttft->observe(0.003);
  (*a)->requestFinished(StatusCode::kOk);
  (*a)->requestFinished(StatusCode::kOk);
  (*a)->requestFinished(StatusCode::kCancelled);
  (*a)->generationTokens->inc(42);
  (*a)->slotsCapacity->set(64);
  const std::string text = r.exposeText();
  EXPECT_NE(text.find("mamba_request_ttft_seconds_bucket{model=\"mamba2-130m\","
                      "variant=\"dense\",le=\"0.005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("mamba_requests_total{model=\"mamba2-130m\",variant=\"dense\","
                      "status=\"OK\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("mamba_requests_total{model=\"mamba2-130m\",variant=\"dense\","
                      "status=\"CANCELLED\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("mamba_requests_total{model=\"mamba2-130m\",variant=\"masked\","
                      "status=\"DATA_LOSS\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("mamba_generation_tokens_total{model=\"mamba2-130m\",variant=\"dense\"}"
                      " 42\n"),
            std::string::npos);
  EXPECT_NE(text.find("mamba_batch_size_bucket{model=\"mamba2-130m\",variant=\"dense\","
                      "le=\"512\"} 0\n"),
            std::string::npos);
}

TEST(ServingMetrics, SecondCreateOnSameRegistrySharesFamilies) {
  Registry r;
  auto a = ServingMetrics::create(r);
  auto b = ServingMetrics::create(r);
  ASSERT_TRUE(a.isOk() && b.isOk());
  (*(*a)->forModel("m", "v"))->promptTokens->inc(5);
  EXPECT_EQ((*(*b)->forModel("m", "v"))->promptTokens->value(), 5.0);
}

TEST(ServingMetrics, RejectsMalformedModelName) {
  Registry r;
  auto sm = ServingMetrics::create(r);
  ASSERT_TRUE(sm.isOk());
  EXPECT_EQ((*sm)->forModel("bad\xff", "dense").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba::metrics
