// TLS on the gRPC ports (RpcServerOptions::tlsCertChainPem/tlsPrivateKeyPem, mamba-server
// --tls-cert/--tls-key): streams and admin calls over TLS with a self-signed certificate the
// client trusts; plain-text clients and clients that do not trust the certificate never
// connect; a certificate gRPC cannot use stops the server from starting.
#include <gtest/gtest.h>

#include "tests/common/test_cert.h"
#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"
#include "tests/rpc/test_model.h"

namespace mamba::rpctest {
namespace {

using namespace std::chrono_literals;

bool connectsWithin(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials,
                    std::chrono::milliseconds wait) {
  return grpc::CreateChannel(address, credentials)->WaitForConnected(deadlineIn(wait));
}

TEST(Tls, StreamsAndAdminCallsRunOverTls) {
  LoopbackOptions o;
  o.tls = true;
  o.admin = true;
  o.adminToken = "tls-admin-token";
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  StreamResult r = runStream(*server.stub(), greedyRequest(promptIds(6, 1), 12));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.tokens.size(), 12u);
  pb::UnloadModelRequest u;
  u.set_model(kModelName);
  u.set_variant("compacted");
  pb::UnloadModelResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(30s));
  ctx.AddMetadata("authorization", "Bearer tls-admin-token");
  grpc::Status s = server.adminStub()->UnloadModel(&ctx, u, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();  // authenticated, ran
}

TEST(Tls, PlainTextAndUntrustingClientsNeverConnect) {
  LoopbackOptions o;
  o.tls = true;
  o.admin = true;
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  EXPECT_FALSE(connectsWithin(server.address(), grpc::InsecureChannelCredentials(), 1500ms));
  EXPECT_FALSE(connectsWithin(server.rpc().adminAddress(), grpc::InsecureChannelCredentials(), 1500ms));
  // The system's roots do not include the self-signed certificate.
  EXPECT_FALSE(connectsWithin(server.address(), grpc::SslCredentials({}), 1500ms));
  // The server keeps serving the clients that trust it.
  UnaryResult after = runUnary(*server.stub(), greedyRequest(promptIds(4, 2), 4));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
}

TEST(Tls, AKeyThatIsNotTheCertificatesStopsTheStart) {
  const testing::TestCert& cert = testing::testCert();
  ASSERT_TRUE(cert.error.empty()) << cert.error;
  LoopbackServer plain;  // only for its engine
  ASSERT_TRUE(plain.status().isOk()) << plain.status().toString();
  rpc::RpcServerOptions ro;
  ro.listenAddress = "127.0.0.1:0";
  ro.tlsCertChainPem = cert.certPem;
  ro.tlsPrivateKeyPem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
  auto r = rpc::RpcServer::start(plain.engine(), ro);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().toString();
  EXPECT_NE(r.status().message().find("TLS certificate and key refused"), std::string::npos)
      << r.status().toString();
}

}  // namespace
}  // namespace mamba::rpctest
