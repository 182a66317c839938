// guardedModelCall: the Status boundary around model code maps each failure kind once.
#include "server/model/guarded_call.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include <torch/torch.h>

namespace mamba {
namespace {

TEST(GuardedModelCall, PassesTheResultThrough) {
  EXPECT_TRUE(guardedModelCall([] { return Status::ok(); }).isOk());
  EXPECT_EQ(guardedModelCall([] { return invalidArgument("slot 9"); }).code(), StatusCode::kInvalidArgument);
}

TEST(GuardedModelCall, StatusErrorKeepsItsStatus) {
  const Status s = guardedModelCall([]() -> Status { throw StatusError(unimplemented("built without CUDA kernels")); });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(s.message(), "built without CUDA kernels");
}

TEST(GuardedModelCall, LibTorchErrorsBecomeInternalWithoutBacktrace) {
  const Status s = guardedModelCall([]() -> Status {
    torch::ones({2, 3}).matmul(torch::ones({4, 5}));  // a shape LibTorch rejects
    return Status::ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message().rfind("model execution failed: ", 0), 0u) << s.message();
  EXPECT_EQ(s.message().find("Exception raised from"), std::string::npos) << s.message();
}

TEST(GuardedModelCall, OtherExceptionsBecomeInternal) {
  const Status s = guardedModelCall([]() -> Status { throw std::runtime_error("bad_alloc-like"); });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "model execution failed: bad_alloc-like");
}

}  // namespace
}  // namespace mamba
