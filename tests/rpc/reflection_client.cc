#include "tests/rpc/reflection_client.h"

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/sync_stream.h>

#include <chrono>

namespace mamba::rpctest {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

constexpr const char* kMethod = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// ServerReflectionRequest field numbers.
constexpr int kFileContainingSymbol = 4;
constexpr int kListServices = 7;
// ServerReflectionResponse field numbers.
constexpr int kFileDescriptorResponse = 4;
constexpr int kListServicesResponse = 6;
constexpr int kErrorResponse = 7;

std::string encodeStringField(int field, const std::string& value) {
  UnknownFieldSet set;
  set.AddLengthDelimited(field, value);
  std::string out;
  set.SerializeToString(&out);
  return out;
}

// The length-delimited payloads of `field` in a serialized message.
std::vector<std::string> stringFields(const std::string& bytes, int field) {
  UnknownFieldSet set;
  std::vector<std::string> out;
  if (!set.ParseFromString(bytes)) return out;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (f.number() == field && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(f.length_delimited());
    }
  }
  return out;
}

grpc::Status errorFrom(const std::string& response) {
  auto errors = stringFields(response, kErrorResponse);
  if (errors.empty()) return grpc::Status::OK;
  auto messages = stringFields(errors.front(), 2);
  return grpc::Status(grpc::StatusCode::UNKNOWN,
                      "reflection error: " + (messages.empty() ? std::string() : messages.front()));
}

}  // namespace

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)) {}

grpc::Status ReflectionClient::exchange(const std::string& request, std::string* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::internal::RpcMethod method(kMethod, grpc::internal::RpcMethod::BIDI_STREAMING,
                                         channel_);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel_.get(), method, &ctx));
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  if (!stream->Write(out)) return stream->Finish();
  stream->WritesDone();
  grpc::ByteBuffer in;
  const bool got = stream->Read(&in);
  grpc::Status status = stream->Finish();
  if (!status.ok()) return status;
  if (!got) return grpc::Status(grpc::StatusCode::INTERNAL, "no reflection response");
  std::vector<grpc::Slice> slices;
  (void)in.Dump(&slices);
  response->clear();
  for (const auto& s : slices) response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  return grpc::Status::OK;
}

grpc::Status ReflectionClient::listServices(std::vector<std::string>* services) {
  std::string response;
  grpc::Status s = exchange(encodeStringField(kListServices, ""), &response);
  if (!s.ok()) return s;
  if (grpc::Status e = errorFrom(response); !e.ok()) return e;
  services->clear();
  for (const auto& list : stringFields(response, kListServicesResponse)) {
    for (const auto& service : stringFields(list, 1)) {   // ListServiceResponse.service
      for (const auto& name : stringFields(service, 1)) {  // ServiceResponse.name
        services->push_back(name);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status ReflectionClient::fileContainingSymbol(
    const std::string& symbol, std::vector<google::protobuf::FileDescriptorProto>* files) {
  std::string response;
  grpc::Status s = exchange(encodeStringField(kFileContainingSymbol, symbol), &response);
  if (!s.ok()) return s;
  if (grpc::Status e = errorFrom(response); !e.ok()) return e;
  files->clear();
  for (const auto& fdr : stringFields(response, kFileDescriptorResponse)) {
    for (const auto& bytes : stringFields(fdr, 1)) {  // FileDescriptorResponse.file_descriptor_proto
      google::protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "bad FileDescriptorProto");
      }
      files->push_back(std::move(file));
    }
  }
  return grpc::Status::OK;
}

}  // namespace mamba::rpctest
