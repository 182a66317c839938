// Server reflection, as grpcurl uses it: list the services, fetch the descriptors, then call
// ListModels and Generate with messages built only from what reflection returned.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/rpc/loopback_server.h"
#include "tests/rpc/reflection_client.h"
#include "tests/rpc/rpc_calls.h"

namespace mamba::rpctest {
namespace {

namespace gp = google::protobuf;

// A unary call with serialized messages: no generated code involved.
grpc::Status rawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const gp::Message& request, gp::Message* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(std::chrono::seconds(30)));
  const grpc::internal::RpcMethod rpc(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel);
  std::string bytes;
  request.SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer req(&slice, 1), resp;
  grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), rpc, &ctx, req, &resp);
  if (!s.ok()) return s;
  std::vector<grpc::Slice> slices;
  (void)resp.Dump(&slices);
  std::string out;
  for (const auto& sl : slices) out.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return response->ParseFromString(out) ? grpc::Status::OK
                                        : grpc::Status(grpc::StatusCode::INTERNAL, "bad response");
}

TEST(Reflection, ListsServicesAndDescribesTheApi) {
  LoopbackServer server;
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  ReflectionClient client(server.channel());

  std::vector<std::string> services;
  grpc::Status s = client.listServices(&services);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (const char* want : {"mamba.serving.v1.Inference", "grpc.health.v1.Health",
                           "grpc.reflection.v1alpha.ServerReflection"}) {
    EXPECT_NE(std::find(services.begin(), services.end(), want), services.end()) << want;
  }

  // The health service's descriptor is available too (grpcurl describe grpc.health.v1.Health).
  std::vector<gp::FileDescriptorProto> healthFiles;
  ASSERT_TRUE(client.fileContainingSymbol("grpc.health.v1.Health", &healthFiles).ok());
  ASSERT_FALSE(healthFiles.empty());

  std::vector<gp::FileDescriptorProto> files;
  s = client.fileContainingSymbol("mamba.serving.v1.Inference", &files);
  ASSERT_TRUE(s.ok()) << s.error_message();
  gp::DescriptorPool pool;
  for (const auto& f : files) ASSERT_NE(pool.BuildFile(f), nullptr) << f.name();
  const gp::ServiceDescriptor* service = pool.FindServiceByName("mamba.serving.v1.Inference");
  ASSERT_NE(service, nullptr);
  const gp::MethodDescriptor* stream = service->FindMethodByName("GenerateStream");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->server_streaming());
  EXPECT_FALSE(stream->client_streaming());
  for (const char* unary : {"Generate", "Score", "ListModels"}) {
    const gp::MethodDescriptor* m = service->FindMethodByName(unary);
    ASSERT_NE(m, nullptr) << unary;
    EXPECT_FALSE(m->server_streaming()) << unary;
  }

  // Call ListModels and Generate with dynamic messages from the reflected descriptors.
  gp::DynamicMessageFactory factory(&pool);
  const gp::MethodDescriptor* listModels = service->FindMethodByName("ListModels");
  std::unique_ptr<gp::Message> lmReq(factory.GetPrototype(listModels->input_type())->New());
  std::unique_ptr<gp::Message> lmResp(factory.GetPrototype(listModels->output_type())->New());
  s = rawUnary(server.channel(), "/mamba.serving.v1.Inference/ListModels", *lmReq, lmResp.get());
  ASSERT_TRUE(s.ok()) << s.error_message();
  const gp::FieldDescriptor* defaultModel = lmResp->GetDescriptor()->FindFieldByName("default_model");
  ASSERT_NE(defaultModel, nullptr);
  EXPECT_EQ(lmResp->GetReflection()->GetString(*lmResp, defaultModel), kModelName);

  const gp::MethodDescriptor* generate = service->FindMethodByName("Generate");
  std::unique_ptr<gp::Message> genReq(factory.GetPrototype(generate->input_type())->New());
  std::unique_ptr<gp::Message> genResp(factory.GetPrototype(generate->output_type())->New());
  const gp::Descriptor* reqType = genReq->GetDescriptor();
  genReq->GetReflection()->SetString(genReq.get(), reqType->FindFieldByName("prompt_text"), "hi");
  genReq->GetReflection()->SetInt32(genReq.get(), reqType->FindFieldByName("max_new_tokens"), 5);
  genReq->GetReflection()->SetBool(genReq.get(), reqType->FindFieldByName("ignore_eos"), true);
  s = rawUnary(server.channel(), "/mamba.serving.v1.Inference/Generate", *genReq, genResp.get());
  ASSERT_TRUE(s.ok()) << s.error_message();
  const gp::FieldDescriptor* tokenIds = genResp->GetDescriptor()->FindFieldByName("token_ids");
  EXPECT_EQ(genResp->GetReflection()->FieldSize(*genResp, tokenIds), 5);
}

}  // namespace
}  // namespace mamba::rpctest
