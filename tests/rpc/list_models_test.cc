// ListModels on the loopback server.
#include <gtest/gtest.h>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

TEST(ListModels, ReportsModelVariantAndStateSizes) {
  LoopbackOptions options;
  options.slots = 5;
  LoopbackServer server(options);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto stub = server.stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(std::chrono::seconds(10)));
  pb::ListModelsResponse resp;
  grpc::Status s = stub->ListModels(&ctx, pb::ListModelsRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.default_model(), kModelName);
  ASSERT_EQ(resp.models_size(), 1);
  const pb::Model& m = resp.models(0);
  EXPECT_EQ(m.name(), kModelName);
  ASSERT_EQ(m.variants_size(), 1);
  const pb::ModelVariant& v = m.variants(0);
  EXPECT_EQ(v.variant(), "dense");
  EXPECT_EQ(v.dtype(), "fp32");
  EXPECT_EQ(v.device(), "cpu");
  EXPECT_EQ(v.n_layer(), 2);
  EXPECT_EQ(v.d_model(), 64);
  ASSERT_EQ(v.state_sizes_size(), 2);
  EXPECT_EQ(v.state_sizes(0), 16);
  EXPECT_EQ(v.state_sizes(1), 16);
  EXPECT_EQ(v.vocab_size(), 512);
  EXPECT_GT(v.parameter_count(), 0);
  EXPECT_GT(v.state_bytes_per_sequence(), 0);
  EXPECT_EQ(v.num_slots(), 5);
  EXPECT_FALSE(v.path().empty());
  ASSERT_GE(v.eos_token_ids_size(), 1);
  EXPECT_EQ(v.eos_token_ids(0), 0);
}

}  // namespace
}  // namespace mamba::rpctest
