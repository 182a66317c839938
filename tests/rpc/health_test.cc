// The standard grpc.health.v1 service: SERVING while accepting, NOT_SERVING once draining.
#include <gtest/gtest.h>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

using HealthResponse = grpc::health::v1::HealthCheckResponse;

grpc::Status check(grpc::health::v1::Health::Stub& stub, const std::string& service,
                   HealthResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(std::chrono::seconds(10)));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  return stub.Check(&ctx, req, resp);
}

TEST(Health, ServingThenNotServingWhileDraining) {
  LoopbackServer server;
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto health = server.healthStub();
  for (const std::string service : {"", "mamba.serving.v1.Inference"}) {
    HealthResponse resp;
    ASSERT_TRUE(check(*health, service, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), HealthResponse::SERVING) << service;
  }
  HealthResponse unknown;
  EXPECT_EQ(check(*health, "no.such.Service", &unknown).error_code(), grpc::StatusCode::NOT_FOUND);

  server.rpc().beginDrain();
  for (const std::string service : {"", "mamba.serving.v1.Inference"}) {
    HealthResponse resp;
    ASSERT_TRUE(check(*health, service, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), HealthResponse::NOT_SERVING) << service;
  }
}

}  // namespace
}  // namespace mamba::rpctest
