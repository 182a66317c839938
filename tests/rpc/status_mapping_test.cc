#include "server/rpc/status_mapping.h"

#include <gtest/gtest.h>

namespace mamba::rpc {
namespace {

TEST(StatusMapping, EveryCodeMapsToItsCanonicalGrpcCode) {
  const std::pair<StatusCode, grpc::StatusCode> table[] = {
      {StatusCode::kOk, grpc::StatusCode::OK},
      {StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& [code, want] : table) {
    EXPECT_EQ(toGrpcCode(code), want) << statusCodeName(code);
  }
}

TEST(StatusMapping, KeepsTheMessage) {
  grpc::Status s = toGrpcStatus(invalidArgument("sampling.top_p must be in (0, 1], got 2"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "sampling.top_p must be in (0, 1], got 2");
  EXPECT_TRUE(toGrpcStatus(Status::ok()).ok());
}

}  // namespace
}  // namespace mamba::rpc
