// The one mapping from the project's Status to gRPC status codes. Every RPC handler reports
// errors through toGrpcStatus(); no other file converts codes.
#pragma once

#include <grpcpp/support/status.h>

#include "server/common/status.h"

namespace mamba::rpc {

grpc::StatusCode toGrpcCode(StatusCode code);

// Same code (mamba::StatusCode mirrors the canonical codes), same message.
grpc::Status toGrpcStatus(const Status& status);

}  // namespace mamba::rpc
