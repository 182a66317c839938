// A minimal client of the gRPC server reflection protocol (grpc.reflection.v1alpha), what
// grpcurl does without proto files. Debian ships no C++ reflection client (grpc's
// ProtoReflectionDescriptorDatabase is not installed) and linking a second copy of
// reflection.proto next to libgrpc++_reflection's would clash in the descriptor pool, so
// the messages are encoded and decoded at the wire level (UnknownFieldSet) over a raw
// ByteBuffer stream.
#pragma once

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

namespace mamba::rpctest {

class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel);

  // ListServices: the fully qualified service names.
  grpc::Status listServices(std::vector<std::string>* services);
  // FileContainingSymbol: the file defining `symbol` and its dependencies, as sent.
  grpc::Status fileContainingSymbol(const std::string& symbol,
                                    std::vector<google::protobuf::FileDescriptorProto>* files);

 private:
  // One request/response exchange on a fresh ServerReflectionInfo stream.
  grpc::Status exchange(const std::string& request, std::string* response);

  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace mamba::rpctest
